"""Mocap timing (issue 17): Blender's BVH importer at its defaults keys one frame per mocap frame and leaves the
scene at 24 fps, so a 120-fps take plays 5x slow. MotionCLIP says so when it reads such an action, and reads it
at its real rate once the action's Action FPS is set."""

from pathlib import Path

import numpy as np
import pytest

import bpy
from motionclip_blender.core.paths import data_root

DATA = data_root() / "cmu"
pytestmark = pytest.mark.skipif(not (DATA / "index.json").is_file(), reason=f"no data at {DATA}")
WALK = DATA / "trials" / "07_01.bvh"  # a 120-fps walk


def _speed(motion) -> float:
    root = motion.joint_positions()[:, 0, :2]
    return float(np.linalg.norm(root[-1] - root[0]) / ((len(motion) - 1) / motion.fps))


def test_a_slowed_mocap_import_is_flagged_and_read_at_its_rate_once_set(fresh):
    from motionclip_blender.blender import readback
    from motionclip_blender.core.io.mocap import read_motion

    assert fresh.scene.render.fps == 24
    bpy.ops.import_anim.bvh(filepath=str(WALK))  # defaults: no fps scaling, scene left at 24
    arm = fresh.active_object
    action = arm.animation_data.action
    true_speed = _speed(read_motion(WALK))
    slowed = readback.motion_from_action(arm)
    note = readback.timing_note(slowed, action)
    print(f"real {true_speed:.2f} m/s, read at 24 fps {_speed(slowed):.2f} m/s: {note}")
    assert _speed(slowed) < 0.3 * true_speed and "Action FPS" in note and "120" in note
    action.motionclip_fps = 120.0
    real = readback.motion_from_action(arm)
    assert real.fps == 24 and abs(_speed(real) / true_speed - 1) < 0.1
    assert abs(len(real) - (len(slowed) - 1) * 24 / 120 - 1) <= 1  # the same take, its real length
    assert readback.timing_note(real, action) == ""


def test_an_ordinary_action_gets_no_timing_note(fresh):
    from motionclip_blender.blender import readback

    fresh.scene.render.fps = 120
    bpy.ops.import_anim.bvh(filepath=str(WALK))
    arm = fresh.active_object
    motion = readback.motion_from_action(arm)
    assert readback.timing_note(motion, arm.animation_data.action) == ""


def test_sequencing_an_action_whose_rate_is_not_the_scenes_is_refused(fresh, tiny_model):
    bpy.ops.import_anim.bvh(filepath=str(WALK))
    arm = fresh.active_object
    action = arm.animation_data.action
    action.motionclip_fps = 120.0
    tracks = len(arm.animation_data.nla_tracks)
    with pytest.raises(RuntimeError, match="set to 120 fps and the scene plays 24"):
        bpy.ops.motionclip.blend(action_a=action.name, prompt_b="a person walks", seconds=1.0)
    assert len(arm.animation_data.nla_tracks) == tracks
