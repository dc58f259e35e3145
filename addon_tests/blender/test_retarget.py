"""Retarget in real Blender: a CMU walk baked on the SMPL rig goes onto Mixamo-, Rigify- and UE-like armatures
(other names, T/A-pose arms, random rolls, twist and extra bones, 180° turned object, cm units with 0.01 object
scale and a Y-up armature), checked per mapped joint and frame in world space, and read back to SMPL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import bpy
from addon_tests import rig_builders as rb
from bl_helpers import counts
from conftest import REPO
from motionclip_blender.blender import bake, retarget, rig
from motionclip_blender.core.motion.skeleton import JOINT_NAMES, PRIMARY_CHILD
from motionclip_blender.core.paths import data_root
from motionclip_blender.blender.rigs import rig_for

BVH = data_root() / "cmu" / "trials" / "07_01.bvh"


@pytest.fixture(scope="module")
def walk():
    if BVH.is_file():
        from motionclip_blender.core.io.mocap import read_motion

        return read_motion(str(BVH))
    from test_bake import random_motion  # the shared data is not on this machine: a synthetic motion

    return random_motion(frames=80)


build_armature = rb.build_armature


def source_rig(motion):
    bpy.context.scene.render.fps = int(motion.fps)
    src, _ = rig.add_smpl_rig(bpy.context, with_body=False)
    bake.bake_motion(src, motion, "walk", start_frame=1)
    return src


def world_directions(arm, bone_map: dict, frame: int) -> np.ndarray:
    """(24, 3) unit world directions per SMPL joint: towards the bone of its primary child, else the bone axis."""
    bpy.context.scene.frame_set(frame)
    mw = arm.matrix_world
    out = []
    for j, name in enumerate(JOINT_NAMES):
        pb = arm.pose.bones[bone_map[name]]
        c = PRIMARY_CHILD.get(j)
        if c is not None:
            d = mw @ arm.pose.bones[bone_map[JOINT_NAMES[c]]].head - mw @ pb.head
        else:
            d = mw.to_3x3() @ (pb.tail - pb.head)
        out.append(np.array(d.normalized()))
    return np.array(out)


@pytest.mark.parametrize("style", ["mixamo", "rigify", "ue"])
def test_retarget_matches_source_directions_and_round_trips(fresh, walk, style):
    test_rig = rb.ALL_RIGS[style]()
    src = source_rig(walk)
    tgt = build_armature(test_rig, f"{style}_rig")
    _, label = retarget.resolve_map(tgt)
    assert label.startswith(f"{test_rig.expected_preset}: 24/24 joints, confidence 100%"), label

    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, preset='AUTO') == {'FINISHED'}
    action = tgt.animation_data.action
    assert action.name == f"walk_{tgt.name}" and tuple(action.frame_range) == (1.0, float(len(walk)))
    bone_map = json.loads(action["retarget_map"])

    smpl_map = {n: n for n in JOINT_NAMES}
    errors, pelvis_src, pelvis_tgt = [], [], []
    for f in range(1, len(walk) + 1, 3):
        expected = world_directions(src, smpl_map, f) @ test_rig.heading.T
        got = world_directions(tgt, bone_map, f)
        errors.append(np.degrees(np.arccos(np.clip((expected * got).sum(-1), -1, 1))))
        pelvis_src.append(np.array(src.matrix_world @ src.pose.bones["pelvis"].head))
        pelvis_tgt.append(np.array(tgt.matrix_world @ tgt.pose.bones[bone_map["pelvis"]].head))
    errors = np.array(errors)
    worst = JOINT_NAMES[int(errors.max(0).argmax())]
    print(f"\n{style}: max world direction error {errors.max():.4f} deg ({worst}), mean {errors.mean():.4f} deg "
          f"over {errors.size} joint-frames")
    assert errors.max() < 2.0

    # root: the walk's path, turned to the character's heading and scaled by the hip-height ratio
    src_path = np.diff(np.array(pelvis_src), axis=0) @ test_rig.heading.T
    tgt_path = np.diff(np.array(pelvis_tgt), axis=0)
    ratio = np.linalg.norm(tgt_path, axis=1).sum() / np.linalg.norm(src_path, axis=1).sum()
    cos = (src_path * tgt_path).sum() / np.linalg.norm(src_path) / np.linalg.norm(tgt_path)
    print(f"{style}: root path length ratio {ratio:.3f}, direction cosine {cos:.5f}")
    assert cos > 0.999 and 0.5 < ratio < 2.0

    # SMPL -> rig -> SMPL, through Blender's evaluated pose
    back = retarget.read_motion(fresh, tgt)
    mm = np.linalg.norm(back.joint_positions() - walk.joint_positions(), axis=-1) * 1000
    print(f"{style}: round trip mean joint position error {mm.mean():.3f} mm (max {mm.max():.3f} mm)")
    assert len(back) == len(walk) and mm.mean() < 2.0


def test_custom_map_saved_and_reloaded_gives_the_same_result(fresh, walk):
    src = source_rig(walk)
    tgt = build_armature(rb.ue_mannequin(), "UE")
    settings = fresh.scene.motionclip_retarget
    settings.target, settings.source = tgt, src
    assert bpy.ops.motionclip.retarget_map_fill() == {'FINISHED'}
    assert settings.preset == 'CUSTOM' and {i.joint: i.bone for i in settings.bones}["left_wrist"] == "hand_l"
    next(i for i in settings.bones if i.joint == "spine3").bone = "spine_03"  # differs from the built-in
    next(i for i in settings.bones if i.joint == "left_hand").bone = ""  # joints may stay unmapped
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, preset='CUSTOM') == {'FINISHED'}
    first = tgt.animation_data.action

    assert bpy.ops.motionclip.retarget_preset_save(name="My UE") == {'FINISHED'}
    path = Path(retarget.preset_dir()) / "My_UE.json"
    assert path.is_file() and str(path).startswith(os.environ["BLENDER_USER_RESOURCES"])
    for item in settings.bones:
        item.bone = ""
    assert bpy.ops.motionclip.retarget_preset_load(name="My UE") == {'FINISHED'}
    assert {i.joint: i.bone for i in settings.bones}["spine3"] == "spine_03"
    from motionclip_blender.blender import props

    items = {i[0] for i in props._preset_items(settings, fresh)}  # the panel's map menu lists it
    assert {"AUTO", "CUSTOM", "smpl", "mixamo", "rigify", "ue_mannequin", "My_UE"} <= items
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, preset='CUSTOM') == {'FINISHED'}
    reloaded = tgt.animation_data.action
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, preset='My_UE') == {'FINISHED'}
    by_name = tgt.animation_data.action
    assert first["retarget_map"] == reloaded["retarget_map"] == by_name["retarget_map"]
    assert len({first.name, reloaded.name, by_name.name}) == 3
    a, b, c = (fcurve_values(x) for x in (first, reloaded, by_name))
    assert a.keys() == b.keys() == c.keys() and "left_hand" not in first["retarget_map"]
    assert all(np.array_equal(a[k], b[k]) and np.array_equal(a[k], c[k]) for k in a)


def fcurve_values(action) -> dict:
    bag = action.layers[0].strips[0].channelbag(action.slots[0])
    out = {}
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co
    return out


def test_missing_required_bones_report_and_change_nothing(fresh, walk):
    src = source_rig(walk)
    test_rig = rb.mixamo()
    test_rig.bones = [b for b in test_rig.bones if b.name not in ("mixamorig:LeftForeArm", "mixamorig:Head")]
    for b in test_rig.bones:  # re-parent what hung below the removed bones
        if b.parent == "mixamorig:LeftForeArm":
            b.parent, b.connected = "mixamorig:LeftArm", False
        if b.parent == "mixamorig:Head":
            b.parent, b.connected = "mixamorig:Neck", False
    tgt = build_armature(test_rig, "Broken")
    fresh.scene.frame_set(7)
    before = counts(), tgt.animation_data, fresh.scene.frame_current
    with pytest.raises(RuntimeError, match=r"head \(no bone such as 'head'\), left_elbow \(no bone such as 'mixamorig:LeftForeArm'\)"):
        bpy.ops.motionclip.retarget(source=src.name, target=tgt.name)
    assert (counts(), tgt.animation_data, fresh.scene.frame_current) == before
    with pytest.raises(RuntimeError, match="unknown preset 'nope'"):
        bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, preset="nope")
    with pytest.raises(RuntimeError, match="has no action"):
        bpy.ops.motionclip.retarget(source=tgt.name, target=src.name)
    assert (counts(), tgt.animation_data, fresh.scene.frame_current) == before


def test_retarget_is_one_undo_step(fresh, walk):
    src = source_rig(walk)
    tgt = build_armature(rb.rigify(), "Rigify")
    bpy.ops.ed.undo_push(message="setup")
    before = counts()
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name) == {'FINISHED'}
    bpy.ops.ed.undo_push(message="Retarget")
    assert counts()[1] == before[1] + 1
    bpy.ops.ed.undo()
    assert counts() == before and bpy.data.objects["Rigify"].animation_data is None
    bpy.ops.ed.redo()
    assert bpy.data.objects["Rigify"].animation_data.action.name == "walk_Rigify"


def test_keep_start_continues_from_the_current_pose(fresh, walk):
    """Chaining: the second take starts where the first one left the character, facing its way."""
    src = source_rig(walk)
    tgt = build_armature(rb.ue_mannequin(), "UE")
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name) == {'FINISHED'}
    fresh.scene.frame_set(len(walk))
    end = np.array(tgt.matrix_world @ tgt.pose.bones["pelvis"].head)
    assert np.linalg.norm(end[:2]) > 0.5  # the walk went somewhere
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, root_motion='KEEP_START') == {'FINISHED'}
    fresh.scene.frame_set(1)
    start = np.array(tgt.matrix_world @ tgt.pose.bones["pelvis"].head)
    assert np.abs(start[:2] - end[:2]).max() < 1e-3, (start, end)
    assert bpy.ops.motionclip.retarget(source=src.name, target=tgt.name, root_motion='IN_PLACE') == {'FINISHED'}
    xy = []
    for f in (1, 20, 40, len(walk)):
        fresh.scene.frame_set(f)
        xy.append(np.array(tgt.matrix_world @ tgt.pose.bones["pelvis"].head)[:2])
    assert np.ptp(np.array(xy), axis=0).max() < 1e-4


def test_generate_on_a_mixamo_rig_retargets(fresh, tiny_model):
    fresh.scene.render.fps = 30  # the model's rate: frame f is the motion's frame f - 1
    tgt = build_armature(rb.mixamo(), "Mixamo")
    fresh.view_layer.objects.active = tgt
    assert bpy.ops.motionclip.generate(prompt="a person jumps", seconds=1.0, seed=1) == {'FINISHED'}
    action = tgt.animation_data.action
    assert action.name == "MC_a_person_jumps" and action["prompt"] == "a person jumps"
    paths = {fc.data_path for fc in action.layers[0].strips[0].channelbag(action.slots[0]).fcurves}
    assert 'pose.bones["mixamorig:LeftForeArm"].rotation_quaternion' in paths
    assert 'pose.bones["mixamorig:Hips"].location' in paths
    # the same motion, checked against the core: per joint directions match (turned by the rig's 180°)
    motion = tiny_model.generate("a person jumps", frames=30, seed=1)
    from motionclip_blender.core.rig.retarget import Retargeter

    rt = Retargeter(retarget.rig_rest(tgt), json.loads(action["retarget_map"]))
    fresh.scene.frame_set(10)
    pose = retarget.current_pose(tgt, retarget.rig_rest(tgt))
    err = rb.angle_deg(rt.joint_directions(pose[None]), rt.smpl_directions(motion[9]))
    assert err.max() < 1.0, err.max()


def test_generate_on_an_unmappable_armature_names_the_bones(fresh, tiny_model):
    bpy.ops.object.armature_add()
    before = counts()
    with pytest.raises(RuntimeError, match="not an SMPL rig: missing 24 bones.*no bone map fits it "
                                           r"\(no bone for pelvis, left_hip"):
        bpy.ops.motionclip.generate(prompt="a person jumps", seconds=1.0)
    assert counts() == before


def test_failed_retarget_bake_restores_rotation_modes(fresh, walk, monkeypatch):
    tgt = build_armature(rb.mixamo(), "Mixamo")
    for name in ("mixamorig:LeftForeArm", "mixamorig:Spine"):
        tgt.pose.bones[name].rotation_mode = 'XYZ'
    before, n = bake.rotation_modes(tgt), counts()

    def fail(*args):  # bake_channels' last step, after it switched the modes
        raise RuntimeError("assign failed")

    monkeypatch.setattr(bake, "assign_action", fail)
    fresh.view_layer.objects.active = tgt
    with pytest.raises(RuntimeError, match="assign failed"):
        rig_for(fresh, tgt).apply(walk, {"prompt": "walk"})
    assert bake.rotation_modes(tgt) == before and counts() == n
    monkeypatch.undo()
    src = source_rig(walk)
    bpy.ops.motionclip.retarget(source=src.name, target=tgt.name)
    # Euler bones keep their mode (the rig's other actions key Euler angles) and get the same pose as a
    # quaternion bake: compare with a twin rig left in quaternions
    assert tgt.pose.bones["mixamorig:LeftForeArm"].rotation_mode == 'XYZ'
    paths = {fc.data_path for fc in bake.action_fcurves(tgt.animation_data.action)}
    assert 'pose.bones["mixamorig:LeftForeArm"].rotation_euler' in paths
    twin = build_armature(rb.mixamo(), "Twin")
    bpy.ops.motionclip.retarget(source=src.name, target=twin.name)
    for f in (1, 15, 30):
        fresh.scene.frame_set(f)
        for name in ("mixamorig:LeftForeArm", "mixamorig:Spine", "mixamorig:LeftHand"):
            assert np.allclose(np.array(tgt.pose.bones[name].matrix), np.array(twin.pose.bones[name].matrix),
                               atol=1e-4), (f, name)


def test_source_actions_without_bone_keys_or_with_nan_keys_are_refused(fresh, walk):
    src = source_rig(walk)
    tgt = build_armature(rb.mixamo(), "Target")
    empty = bpy.data.actions.new("only_visibility")
    _, new_fcurve = bake.new_fcurve_container(empty, src)
    new_fcurve("hide_viewport", 0, "Object").keyframe_points.insert(1, 0.0)
    src.animation_data.action = empty
    before = counts(), tgt.animation_data
    with pytest.raises(RuntimeError, match="keys none of its bones"):
        bpy.ops.motionclip.retarget(source=src.name, target=tgt.name)
    src.animation_data.action = bpy.data.actions["walk"]
    fc = next(f for f in bake.action_fcurves(bpy.data.actions["walk"]) if "left_elbow" in f.data_path)
    fc.keyframe_points[5].co.y = float("nan")
    with pytest.raises(RuntimeError, match="Retarget failed: .*(NaN|nan)"):
        bpy.ops.motionclip.retarget(source=src.name, target=tgt.name)
    assert (counts(), tgt.animation_data) == before
