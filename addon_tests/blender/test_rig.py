"""Add SMPL Rig: bone names, heads at the core joints, rolls, body skinning."""

import numpy as np
import pytest

import bpy
from motionclip_blender.blender import rig
from motionclip_blender.core.motion.skeleton import JOINT_NAMES, PARENTS, rest_joint_positions, rest_pelvis_height


def test_add_smpl_rig_bones_and_body(fresh):
    bpy.ops.motionclip.add_smpl_rig()
    arm = bpy.context.active_object
    assert arm.type == 'ARMATURE' and arm.select_get()
    assert sorted(b.name for b in arm.data.bones) == sorted(JOINT_NAMES)  # bones iterate in tree order
    expected = rest_joint_positions()
    expected[:, 2] += rest_pelvis_height()
    heads = np.array([arm.data.bones[n].head_local for n in JOINT_NAMES])
    assert np.abs(heads - expected).max() < 1e-6
    assert heads[:, 2].min() == pytest.approx(0.0, abs=1e-6)  # soles on the floor
    for j, name in enumerate(JOINT_NAMES):
        parent = arm.data.bones[name].parent
        assert (parent.name if parent else None) == (JOINT_NAMES[PARENTS[j]] if PARENTS[j] >= 0 else None)
    # Rolls: upright bones have their local Z pointing forward (-Y).
    z_axis = np.array(arm.data.bones["spine2"].matrix_local.to_3x3().col[2])
    assert z_axis @ np.array([0, -1, 0]) > 0.9
    assert all(pb.rotation_mode == 'QUATERNION' for pb in arm.pose.bones)

    body = next(o for o in bpy.data.objects if o.type == 'MESH')
    assert body.parent == arm and body.modifiers[0].type == 'ARMATURE' and body.modifiers[0].object == arm
    assert {g.name for g in body.vertex_groups} == set(JOINT_NAMES)
    weights = [len(v.groups) for v in body.data.vertices]
    assert min(weights) == 1 and max(weights) == 1  # rigid skinning: every vertex on exactly one bone


def test_add_rig_at_cursor_without_body(fresh):
    bpy.context.scene.cursor.location = (1.0, 2.0, 0.0)
    bpy.ops.motionclip.add_smpl_rig(with_body=False)
    arm = bpy.context.active_object
    assert tuple(arm.location) == (1.0, 2.0, 0.0)
    assert [o.type for o in bpy.data.objects] == ['ARMATURE']


def test_is_smpl_armature_reasons(fresh):
    assert not rig.is_smpl_armature(None)[0]
    mesh = bpy.data.objects.new("M", bpy.data.meshes.new("M"))
    ok, reason = rig.is_smpl_armature(mesh)
    assert not ok and "not an armature" in reason
    other = bpy.data.objects.new("Other", bpy.data.armatures.new("Other"))
    ok, reason = rig.is_smpl_armature(other)
    assert not ok and "missing 24 bones" in reason
