"""Helpers shared by the Blender tests (imported by name: pytest puts this folder on sys.path)."""

import bpy


def counts() -> tuple:
    """What an operator that failed must not change."""
    return (len(bpy.data.objects), len(bpy.data.actions), len(bpy.data.armatures), len(bpy.data.meshes))


def evaluated_joint_positions(arm, frame: int):
    import numpy as np

    from motionclip_blender.core.motion.skeleton import JOINT_NAMES

    bpy.context.scene.frame_set(frame)
    return np.array([arm.matrix_world @ arm.pose.bones[n].head for n in JOINT_NAMES])


class LayoutRecorder:
    """Stands in for ``UILayout`` while a panel draws (headless Blender has no UI): every call is accepted
    and returns another recorder sharing the log. ``operator`` records the idname in ``offered`` and returns a
    proxy taking only the operator's real property names, logging ``(idname, name, value)``: a panel handing
    a misspelt setting to an operator fails. Attributes the panel sets (``row.enabled``) read back."""

    def __init__(self, log: list | None = None, offered: set | None = None):
        object.__setattr__(self, "log", [] if log is None else log)
        object.__setattr__(self, "offered", set() if offered is None else offered)
        object.__setattr__(self, "values", {})

    def operator(self, idname, **_kwargs):
        self.offered.add(idname)
        names = set(getattr(bpy.ops.motionclip, idname.split(".")[1]).get_rna_type().properties.keys())
        log = self.log

        class Props:
            def __setattr__(self, key, value):
                assert key in names, f"{idname} has no property {key}"
                log.append((idname, key, value))

        return Props()

    def __getattr__(self, name):
        if name in self.values:
            return self.values[name]
        return lambda *args, **kwargs: LayoutRecorder(self.log, self.offered)

    def __setattr__(self, name, value):
        self.values[name] = value
