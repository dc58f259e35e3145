"""Fixtures for the Blender add-on tests (real ``bpy`` 5.0 module, headless).

``BLENDER_USER_RESOURCES`` must point at a scratch dir *before* ``bpy`` is imported, otherwise Blender
writes preferences and extension dirs into the real home directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionclip_blender_user_"))
# no background model warm-up in the test process (test_warm_up.py runs one in its own process)
os.environ.setdefault("MOTIONCLIP_NO_WARMUP", "1")
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402

try:
    import bpy  # noqa: E402
except ImportError as exc:  # a skip here would let `make test` pass with no Blender test run
    raise pytest.UsageError(f"the Blender tests need the bpy module (pip install bpy==5.0.1; `make test` installs "
                            f"it): {exc}") from None
import addon_utils  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Every test in this folder runs real Blender: mark it, so `pytest -m "not blender"` runs the core alone."""
    for item in items:
        if "addon_tests/blender/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.blender)


ADDON = "motionclip_blender"


@pytest.fixture(scope="session")
def addon():
    """The add-on enabled once for the session (as Blender does with the repo root on sys.path)."""
    mod = addon_utils.enable(ADDON, default_set=True, handle_error=None)
    assert mod is not None, "addon_utils.enable returned None"
    yield mod


@pytest.fixture
def fresh(addon):
    """An empty scene per test; add-ons stay enabled across read_homefile."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy.context


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A small random MotionCLIP checkpoint in the MiniLM space: exercises loading and generation end to end
    in ~1 s instead of the bundled model (whose quality is not what these tests check)."""
    import torch

    from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
    from motionclip_blender.core.model.encoders import MINILM_DIM, MINILM_NAME
    from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

    torch.manual_seed(0)
    cfg = ModelConfig(d_model=64, latent_dim=MINILM_DIM, num_encoder_layers=1, num_decoder_layers=1,
                      num_heads=2, ff_size=64)
    out = tmp_path_factory.mktemp("model") / "tiny"
    save_checkpoint(MotionCLIPModel(cfg), CheckpointMeta(model=cfg, encoder=MINILM_NAME, encoder_dim=MINILM_DIM), out)
    return str(out)


@pytest.fixture(scope="session")
def short_model_dir(tmp_path_factory) -> str:
    """Like ``tiny_model_dir`` but its decoder makes at most 60 frames (2 s at 30 fps), as the bundled model
    makes at most 1200 (40 s): for the length checks."""
    import torch

    from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
    from motionclip_blender.core.model.encoders import MINILM_DIM, MINILM_NAME
    from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

    torch.manual_seed(0)
    cfg = ModelConfig(d_model=32, latent_dim=MINILM_DIM, num_encoder_layers=1, num_decoder_layers=1,
                      num_heads=2, ff_size=32, max_frames=60)
    out = tmp_path_factory.mktemp("model") / "short"
    save_checkpoint(MotionCLIPModel(cfg), CheckpointMeta(model=cfg, encoder=MINILM_NAME, encoder_dim=MINILM_DIM), out)
    return str(out)


@pytest.fixture
def short_model(prefs, short_model_dir):
    prefs.checkpoint_path = short_model_dir
    from motionclip_blender.blender import runtime

    return runtime.get_model(ModelSettings.from_prefs(prefs))


@pytest.fixture
def prefs(addon):
    p = bpy.context.preferences.addons[ADDON].preferences
    saved = (p.checkpoint_path, p.text_encoder, p.torch_threads)
    yield p
    p.checkpoint_path, p.text_encoder, p.torch_threads = saved


@pytest.fixture
def tiny_model(prefs, tiny_model_dir):
    prefs.checkpoint_path = tiny_model_dir
    from motionclip_blender.blender import runtime

    return runtime.get_model(ModelSettings.from_prefs(prefs))


from motionclip_blender.blender.prefs import ModelSettings  # noqa: E402
