"""The model: the transformer network, text/image encoders, checkpoints, the latent bank and the public API
(``api.load_model`` -> ``MotionCLIP``); generation with keys, sequences and motion search build on it.

Imports stay lazy (torch is heavy): ``core.model.ModelConfig`` etc., the names of the former module
``core/model.py``, still resolve for one release, with a DeprecationWarning."""

import warnings

_FORMER = ("ModelConfig", "MotionCLIPModel", "lengths_to_mask", "FEATURE_ROWS", "FEATURE_WIDTH")


def __getattr__(name):
    if name in _FORMER:
        warnings.warn(f"motionclip_blender.core.model.{name} moved to motionclip_blender.core.model.network.{name}",
                      DeprecationWarning, stacklevel=2)
        from . import network
        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
