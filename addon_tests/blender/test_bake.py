"""Motion -> action without a model: key counts, values, evaluated pose equals the core's FK."""

import numpy as np
import pytest
import torch

import bpy
from bl_helpers import evaluated_joint_positions
from motionclip_blender.blender import bake, rig
from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.motion.skeleton import JOINT_NAMES
from motionclip_blender.blender.rigs import rig_for


def random_motion(frames=30, fps=30.0, seed=0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    quat = R.axis_angle_to_quaternion(torch.randn(frames, 24, 3, generator=g) * 0.6).numpy()
    trans = np.cumsum(torch.randn(frames, 3, generator=g).numpy() * 0.03, 0) + [0.1, -0.2, 0.9]
    return Motion(quat, trans, fps)


def fcurves(action):
    return list(action.layers[0].strips[0].channelbag(action.slots[0]).fcurves)


def test_bake_matches_forward_kinematics(fresh):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    arm.location = (0.5, -1.0, 0.0)  # motion is in the armature's space
    motion = random_motion()
    action = bake.bake_motion(arm, motion, "test", start_frame=1)
    curves = fcurves(action)
    assert len(curves) == 3 + 24 * 4
    assert all(len(fc.keyframe_points) == len(motion) for fc in curves)
    assert arm.animation_data.action == action and arm.animation_data.action_slot == action.slots[0]
    expected = motion.joint_positions() + np.array([0.5, -1.0, 0.0])
    err = max(np.abs(evaluated_joint_positions(arm, f + 1) - expected[f]).max() for f in range(len(motion)))
    assert err < 1e-4, err
    # and the world bone orientations: the core's world rotation times the bone's rest rotation
    _, world = __import__("motionclip_blender.core.motion.kinematics", fromlist=["x"]).forward_kinematics(
        motion.matrices(), torch.from_numpy(motion.translation))
    bpy.context.scene.frame_set(7)
    rest = np.array([np.array(arm.data.bones[n].matrix_local.to_3x3()) for n in JOINT_NAMES])
    posed = np.array([np.array(arm.pose.bones[n].matrix.to_3x3()) for n in JOINT_NAMES])
    assert np.abs(posed - world[6].numpy() @ rest).max() < 1e-4


def test_resample_to_scene_fps_and_quaternion_continuity(fresh):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    motion = random_motion(frames=31, fps=30.0)
    action = bake.bake_motion(arm, motion, "r", start_frame=10, target_fps=24.0)
    curves = fcurves(action)
    assert len(curves[0].keyframe_points) == 25  # 1 s at 24 fps, both ends kept
    assert tuple(action.frame_range) == (10.0, 34.0)
    q = np.array([[kp.co[1] for kp in fc.keyframe_points] for fc in curves[3:7]]).T  # pelvis w, x, y, z
    assert ((q[1:] * q[:-1]).sum(1) > 0).all()
    expected = motion.resample(24.0).joint_positions()
    assert np.abs(evaluated_joint_positions(arm, 22) - expected[12]).max() < 1e-4


def test_apply_motion_names_props_fake_user_and_range(fresh):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    scene = fresh.scene
    scene.render.fps = 30
    users_action = bpy.data.actions.new("MyHandKeyedAction")
    arm.animation_data_create().action = users_action
    info = {"prompt": "A person jumps!", "model": "tiny", "seed": 3}
    a1, _ = rig_for(fresh, arm).apply(random_motion(20), info)
    a2, _ = rig_for(fresh, arm).apply(random_motion(20), info, set_frame_range=False)
    assert a1.name == "MC_a_person_jumps" and a2.name == "MC_a_person_jumps.001"
    assert a1.use_fake_user and users_action.use_fake_user  # replaced actions survive saving
    assert a2["prompt"] == "A person jumps!" and a2["seed"] == 3 and a2["model"] == "tiny"
    assert (scene.frame_start, scene.frame_end) == (1, 20)


def test_pose_channels_are_conjugated_by_rest(fresh):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    rest_rot, rest_head = bake.rest_rotations(arm)
    motion = random_motion(5)
    quats, loc = bake.motion_to_pose_channels(motion, rest_rot, rest_head)
    m = R.quaternion_to_matrix(torch.from_numpy(quats)).double().numpy()
    core = motion.matrices().double().numpy()
    assert np.abs(rest_rot[None] @ m @ np.swapaxes(rest_rot, -1, -2)[None] - core).max() < 1e-5
    assert np.abs(loc @ rest_rot[0].T + rest_head[0] - motion.translation).max() < 1e-5
    assert bake.action_name("  ") == "MC_motion"
    with pytest.raises(ValueError):
        Motion(np.zeros((2, 24, 4)), np.zeros((2, 3)))


def test_failed_bake_restores_rotation_modes(fresh, monkeypatch):
    """The bake switches keyed bones to QUATERNION; when it fails, every bone gets its mode back."""
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    arm.pose.bones["left_elbow"].rotation_mode = 'XYZ'
    arm.pose.bones["neck"].rotation_mode = 'AXIS_ANGLE'
    arm.pose.bones["spine1"].rotation_mode = 'ZXY'
    before, n_actions = bake.rotation_modes(arm), len(bpy.data.actions)

    def fail(*args):  # after the modes were switched: the last step of bake_motion
        raise RuntimeError("assign failed")

    monkeypatch.setattr(bake, "assign_action", fail)
    with pytest.raises(RuntimeError, match="assign failed"):
        rig_for(fresh, arm).apply(random_motion(5), {"prompt": "x"})
    assert bake.rotation_modes(arm) == before and len(bpy.data.actions) == n_actions
    monkeypatch.undo()
    rig_for(fresh, arm).apply(random_motion(5), {"prompt": "x"})  # success keeps quaternions (the keys are)
    assert set(bake.rotation_modes(arm).values()) == {'QUATERNION'}
    note = bake.mode_note(arm, before)
    assert note.startswith("3 bones switched to Quaternion rotation") and "left_elbow" in note
    assert bake.mode_note(arm, bake.rotation_modes(arm)) == ""
