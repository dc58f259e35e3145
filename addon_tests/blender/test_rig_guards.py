"""Rigs as animators bring them: SMPL rigs that do not rest as Add SMPL Rig makes them, linked armatures, NLA
tweak mode, the action an assignment replaces, the map the Retarget panel saves, and a sequence's NLA strips."""

import json
from pathlib import Path

import numpy as np
import pytest
from mathutils import Matrix

import bpy
from bl_helpers import counts, evaluated_joint_positions
from motionclip_blender.blender import retarget
from motionclip_blender.blender.rigs import MappedRig, SmplRig, rig_for
from motionclip_blender.core.motion.skeleton import JOINT_INDEX
from motionclip_blender.core.rig.presets import builtin_preset_dir


def add_rig():
    bpy.ops.motionclip.add_smpl_rig()
    return bpy.context.active_object


def test_an_smpl_rig_with_its_scale_applied_is_retargeted_not_keyed_as_metres(fresh, tiny_model):
    """An SMPL-named rig twice the size with the scale applied (as a centimetre FBX is, 100x): keyed directly,
    its feet ended 0.84 m under the floor. It now goes through the retargeter and moves as the built-in rig
    does, twice as large."""
    plain = add_rig()
    assert isinstance(rig_for(fresh, plain), SmplRig)
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=1.0, seed=3) == {'FINISHED'}
    big = add_rig()
    big.location = (0.0, 0.0, 0.0)
    big.data.transform(Matrix.Scale(2.0, 4))
    assert isinstance(rig_for(fresh, big), MappedRig)
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=1.0, seed=3) == {'FINISHED'}
    for frame in (1, 15, 30):
        small_pos, big_pos = evaluated_joint_positions(plain, frame), evaluated_joint_positions(big, frame)
        rel_small, rel_big = small_pos - small_pos[:1], big_pos - big_pos[:1]
        assert np.abs(rel_big - 2 * rel_small).max() < 0.02, frame  # the same pose, twice the size
        feet = [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]
        assert big_pos[feet, 2].min() > 1.5 * small_pos[feet, 2].min() - 0.02  # on the floor, not under it


def test_a_linked_armature_is_refused_before_anything_is_made(fresh, tiny_model, tmp_path):
    add_rig()
    library = str(tmp_path / "rig_library.blend")
    bpy.ops.wm.save_as_mainfile(filepath=library)
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(library, link=True) as (_, linked):
        linked.objects = ["SMPL_Rig"]
    arm = linked.objects[0]
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    before = counts()
    with pytest.raises(RuntimeError, match="linked from a library.*Library Override"):
        bpy.ops.motionclip.generate(prompt="a person walks", seconds=1.0)
    assert counts() == before


def test_nla_tweak_mode_is_refused_with_a_way_out(fresh, tiny_model):
    arm = add_rig()
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=1.0) == {'FINISHED'}
    ad = arm.animation_data
    first = ad.action
    track = ad.nla_tracks.new()
    track.strips.new("walk", 1, first)
    ad.action = None
    ad.nla_tracks.active = track
    ad.use_tweak_mode = True
    assert ad.use_tweak_mode
    before = counts()
    with pytest.raises(RuntimeError, match="tweak mode: leave it"):
        bpy.ops.motionclip.generate(prompt="a person jumps", seconds=1.0)
    with pytest.raises(RuntimeError, match="tweak mode"):
        bpy.ops.motionclip.assign_action(action=first.name)
    assert counts() == before and ad.use_tweak_mode


def test_assigning_a_found_action_keeps_the_one_it_replaces(fresh, tmp_path):
    arm = add_rig()
    arm.animation_data_create()
    keyed = bpy.data.actions.new("hand_keyed_take")
    arm.animation_data.action = keyed
    arm.pose.bones["left_knee"].rotation_mode = 'XYZ'
    arm.pose.bones["left_knee"].keyframe_insert("rotation_euler", frame=1)
    other = bpy.data.actions.new("other_take")
    other.use_fake_user = True
    arm.animation_data.action = other
    arm.pose.bones["left_knee"].keyframe_insert("rotation_euler", frame=5)
    arm.animation_data.action = keyed
    assert keyed.users == 1 and not keyed.use_fake_user
    assert bpy.ops.motionclip.assign_action(action="other_take") == {'FINISHED'}
    path = str(tmp_path / "assigned.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    assert "hand_keyed_take" in bpy.data.actions  # saved, not dropped as an action without users


def test_the_retarget_map_is_saved_by_name_not_by_its_place_in_the_list(fresh, tmp_path):
    presets = Path(retarget.preset_dir(create=True))
    template = json.loads((builtin_preset_dir() / "mixamo.json").read_text())
    written = []

    def write(name):
        path = presets / f"{name}.json"
        path.write_text(json.dumps({**template, "label": name}))
        written.append(path)

    try:
        write("studio_rig")
        write("zz_robot")
        settings = bpy.context.scene.motionclip_retarget
        settings.preset = "zz_robot"
        assert settings.preset_id == "zz_robot"
        path = str(tmp_path / "map.blend")
        bpy.ops.wm.save_as_mainfile(filepath=path)
        write("hero_rig")  # a preset added later moves zz_robot down the list
        bpy.ops.wm.open_mainfile(filepath=path)
        settings = bpy.context.scene.motionclip_retarget
        assert settings.preset == "zz_robot" and retarget.scene_options(bpy.context)[0] == "zz_robot"
        for p in written:
            p.unlink()
        written.clear()
        bpy.ops.wm.open_mainfile(filepath=path)  # the preset is gone: the file still names it
        settings = bpy.context.scene.motionclip_retarget
        assert settings.preset == "zz_robot"
        with pytest.raises(retarget.MapError, match="unknown preset 'zz_robot'"):
            retarget.resolve_map(add_rig(), *retarget.scene_options(bpy.context)[:2])
    finally:
        for p in written:
            p.unlink()


@pytest.mark.parametrize("fps", [24, 60])
def test_a_sequence_with_a_part_shorter_than_its_transition_becomes_strips(fresh, tiny_model, fps):
    fresh.scene.render.fps = fps
    arm = add_rig()
    result = bpy.ops.motionclip.generate(prompt="walk (1 s), then a quick hop (0.17 s), then jump (1 s)",
                                         sequence=True, sequence_strips=True)
    assert result == {'FINISHED'}
    track = arm.animation_data.nla_tracks[-1]
    strips = list(track.strips)
    action = strips[0].action
    assert [s.name for s in strips] == ["walk", "a quick hop", "jump"]
    assert all(s.action_frame_end > s.action_frame_start for s in strips)
    assert strips[-1].action_frame_end <= action.frame_range[1]  # no strip plays past the last key


def test_the_report_names_keyed_bones_whose_constraints_may_override_them(fresh, tiny_model, capfd):
    arm = add_rig()
    arm.pose.bones["left_knee"].constraints.new('LIMIT_ROTATION')
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=1.0) == {'FINISHED'}
    assert "1 keyed bones have constraints that may override the keys (left_knee)" in capfd.readouterr().out
