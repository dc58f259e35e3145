"""Generate with Use Keys (issue 16): the animator keys two poses on their rig; the generated action passes through
them - bone rotations within 1°, the root within 1 cm - on the SMPL rig and on a Mixamo-style rig."""

import numpy as np
import pytest

import bpy
from addon_tests import rig_builders as rb
from motionclip_blender.blender import bake, retarget, rig  # noqa: F401

KEYED = (11, 41)


def _walk():
    from test_latent_ops import stroll

    return stroll(frames=60, speed=1.2, arms=0.6)


def _keep_only(action, frames) -> None:
    """The animator's action: the baked walk's values at ``frames`` only, as hand-set keys."""
    for fc in bake.action_fcurves(action):
        values = [fc.evaluate(f) for f in frames]
        fc.keyframe_points.clear()
        for f, v in zip(frames, values):
            fc.keyframe_points.insert(f, v)


def _poses(arm, bones) -> dict:
    out = {}
    for f in KEYED:
        bpy.context.scene.frame_set(f)
        out[f] = {b: np.array(arm.matrix_world @ arm.pose.bones[b].matrix) for b in bones}
    return out


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb_ = a[:3, :3] / np.linalg.norm(a[:3, :3], axis=0), b[:3, :3] / np.linalg.norm(b[:3, :3], axis=0)
    return float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb_) - 1) / 2, -1, 1))))


@pytest.mark.parametrize("style", ["smpl", "mixamo"])
def test_generate_passes_through_the_animators_keys(fresh, tiny_model, style):
    fresh.scene.render.fps, fresh.scene.frame_start = 30, 1
    if style == "smpl":
        arm, _ = rig.add_smpl_rig(fresh, with_body=False)
        action = bake.bake_motion(arm, _walk(), "animator", start_frame=1)
        bones, root_bone = [b.name for b in arm.pose.bones], "pelvis"
    else:
        arm = rb.build_armature(rb.mixamo(), "Mixamo")
        action, _ = retarget.retarget_motion(fresh, arm, _walk(), "animator", start_frame=1)
        bone_map, _ = retarget.resolve_map(arm)
        bones, root_bone = list(bone_map.values()), bone_map["pelvis"]
    _keep_only(action, KEYED)
    fresh.view_layer.objects.active = arm
    keyed = _poses(arm, bones)
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=2.0, use_keys=True,
                                       key_root=True) == {'FINISHED'}
    generated = arm.animation_data.action
    assert generated != action and generated["keys"] == 2
    got = _poses(arm, bones)
    worst = max(_angle(keyed[f][b], got[f][b]) for f in KEYED for b in bones)
    root = max(np.linalg.norm(keyed[f][root_bone][:3, 3] - got[f][root_bone][:3, 3]) for f in KEYED)
    print(f"{style}: worst bone rotation {worst:.3f} deg, root {root * 100:.3f} cm at the keys")
    assert worst <= 1.0 and root <= 0.01
    # between the keys the motion is the model's, not a copy of either key
    bpy.context.scene.frame_set(26)
    middle = {b: np.array(arm.matrix_world @ arm.pose.bones[b].matrix) for b in bones}
    assert all(max(_angle(keyed[f][b], middle[b]) for b in bones) > 1.0 for f in KEYED)


def test_use_keys_without_keys_in_range_is_refused_before_the_model_runs(fresh, tiny_model):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    fresh.scene.frame_start = 1
    action = bake.bake_motion(arm, _walk(), "animator", start_frame=100)  # keys far after the clip
    fresh.view_layer.objects.active = arm
    with pytest.raises(RuntimeError, match="has no keys between frames 1 and 48"):
        bpy.ops.motionclip.generate(prompt="a person walks", seconds=2.0, use_keys=True)
    assert arm.animation_data.action == action


@pytest.mark.parametrize("strips", [False, True])
def test_a_sequence_prompt_gives_one_action_with_its_parts_marked(fresh, tiny_model, strips):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    fresh.scene.render.fps, fresh.scene.frame_start = 30, 1
    fresh.view_layer.objects.active = arm
    assert bpy.ops.motionclip.generate(prompt="walk forward (1 s), then jump, then squat down", seconds=3.0,
                                       sequence=True, sequence_strips=strips) == {'FINISHED'}
    action = bpy.data.actions[[a.name for a in bpy.data.actions if a.get("segments")][0]]
    markers = sorted((m.frame, m.name) for m in action.pose_markers)
    assert [n for _, n in markers] == ["walk forward", "jump", "squat down"]
    frames = [f for f, _ in markers]
    assert frames[0] == 1 and frames[0] < frames[1] < frames[2] < action.frame_range[1]
    assert 18 <= frames[1] - frames[0] <= 22  # 1 s asked, less the 10-frame transition (it belongs to the next part)
    tracks = arm.animation_data.nla_tracks
    if strips:
        assert len(tracks) == 1 and [s.name for s in tracks[0].strips] == ["walk forward", "jump", "squat down"]
        assert [int(s.frame_start) for s in tracks[0].strips] == frames and arm.animation_data.action is None
    else:
        assert len(tracks) == 0 and arm.animation_data.action == action


def test_sequence_cannot_loop_or_use_keys(fresh, tiny_model):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    fresh.view_layer.objects.active = arm
    with pytest.raises(RuntimeError, match="Sequence and Loop cannot be combined"):
        bpy.ops.motionclip.generate(prompt="walk, then jump", sequence=True, loop=True)
    with pytest.raises(RuntimeError, match="Sequence: a part of"):
        bpy.ops.motionclip.generate(prompt="walk, (2 s)", sequence=True)


def test_use_keys_with_no_prompt_in_betweens_the_keys(fresh, tiny_model):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    fresh.scene.render.fps, fresh.scene.frame_start = 30, 1
    action = bake.bake_motion(arm, _walk(), "animator", start_frame=1)
    _keep_only(action, KEYED)
    fresh.view_layer.objects.active = arm
    bones = [b.name for b in arm.pose.bones]
    keyed = _poses(arm, bones)
    assert bpy.ops.motionclip.generate(prompt="", seconds=2.0, use_keys=True, key_root=True) == {'FINISHED'}
    got = _poses(arm, bones)
    assert max(_angle(keyed[f][b], got[f][b]) for f in KEYED for b in bones) <= 1.0
    _keep_only(arm.animation_data.action, KEYED[:1])  # one key is no in-between
    with pytest.raises(RuntimeError, match="key at least two frames"):
        bpy.ops.motionclip.generate(prompt="", seconds=2.0, use_keys=True)
