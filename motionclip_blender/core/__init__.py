"""MotionCLIP core: never imports ``bpy``, ``mathutils`` or the Blender layer (a test checks every module).

- ``motion/``: the Motion type and motion maths (rotations, skeleton, kinematics, heading, contacts, timelines)
- ``io/``: motion files (BVH, ASF/AMC, npz) and the reference-pose finder
- ``rig/``: bone names, map presets, retargeting
- ``model/``: network, encoders, checkpoints, latent bank, the public API (``model.api.load_model``)
- ``training/``: data, losses, training, evaluation, fine-tuning
- ``cli.py``, ``config_io.py``, ``errors.py``, ``paths.py``: the console commands, strict configs, the error
  types, where bundled files and the data live

Modules use relative imports so the package also works inside an installed Blender extension
(``bl_ext.<repo>.motionclip_blender``). The flat module paths of 0.1 (``core.api``, ``core.bvh``, ...) still
import for one release, with a DeprecationWarning (``_MOVED``)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

_MOVED = {
    "rotations": "motion.rotations", "kinematics": "motion.kinematics", "skeleton": "motion.skeleton",
    "contact": "motion.contact", "timeline": "motion.timeline",
    "bvh": "io.bvh", "asf_amc": "io.asf_amc", "mocap": "io.mocap", "limits": "io.limits",
    "reference_pose": "io.reference_pose",
    "joint_maps": "rig.bone_names", "rig_maps": "rig.presets", "retarget": "rig.retarget", "rig_frames": "rig.frames",
    "rig_reference": "rig.reference", "smpl_body": "rig.smpl_body",
    "encoders": "model.encoders", "checkpoint": "model.checkpoint", "api": "model.api", "bank": "model.bank",
    "keys": "model.keys", "sequence": "model.sequence", "search": "model.search", "labels": "model.labels",
    "corpus": "training.corpus", "dataset": "training.dataset", "augment": "training.augment",
    "losses": "training.losses", "train": "training.train", "evaluate": "training.evaluate",
    "finetune": "training.finetune", "prompt_suite": "training.prompt_suite", "suite_eval": "training.suite_eval",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves a former module path to the module's new home (the same module object), warning once."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, tail = fullname.rpartition(".")
        if head == __name__ and tail in _MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = f"{__name__}.{_MOVED[spec.name.rpartition('.')[2]]}"
        warnings.warn(f"{spec.name} moved to {new}; the old path goes in the next release", DeprecationWarning,
                      stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the new module is already executed


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
