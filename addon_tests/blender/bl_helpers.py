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
