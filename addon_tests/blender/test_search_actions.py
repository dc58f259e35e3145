"""Search Actions (issue 16): every action of the .blend that fits the armature ranked by a text, the hits listed
and assignable, latents cached by content so a second search reads and encodes nothing."""

import pytest

import bpy
from motionclip_blender.blender import bake, readback, rig
from motionclip_blender.blender.ops import search as search_ops


def _actions(arm, n=4):
    from test_latent_ops import stroll

    for i in range(n):
        bake.bake_motion(arm, stroll(frames=30, speed=0.5 + 0.3 * i, arms=0.2 * i), f"take_{i}", start_frame=1)


def test_search_lists_ranked_hits_and_a_click_assigns(fresh, tiny_model, monkeypatch):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    _actions(arm)
    fresh.view_layer.objects.active = arm
    assert bpy.ops.motionclip.search_actions(query="a person walks", top_k=3) == {'FINISHED'}
    hits = fresh.scene.motionclip_search.hits
    scores = [h.score for h in hits]
    assert len(hits) == 3 and scores == sorted(scores, reverse=True) and {h.name for h in hits} <= {
        f"take_{i}" for i in range(4)}
    # the same ranking as the core's, from the same model
    model = tiny_model
    text = model.text_latent(["a person walks"])[0]
    direct = {f"take_{i}": float(model.encode(readback.motion_from_action(arm, bpy.data.actions[f"take_{i}"])) @ text)
              for i in range(4)}
    assert hits[0].name == max(direct, key=direct.get) and abs(hits[0].score - direct[hits[0].name]) < 1e-4

    reads = []
    monkeypatch.setattr(readback, "motion_from_action", lambda *a, **k: reads.append(a) or None)
    monkeypatch.setattr(type(model), "encode", lambda *a, **k: pytest.fail("a cached latent was encoded again"))
    assert bpy.ops.motionclip.search_actions(query="a person jumps", top_k=4) == {'FINISHED'}
    assert reads == [] and len(fresh.scene.motionclip_search.hits) == 4  # all four from the cache
    monkeypatch.undo()

    # an action the animator edits (assigned, a key moved) is read again; the others come from the cache
    bake.assign_action(arm, bpy.data.actions["take_2"], readback.slot_for(arm, bpy.data.actions["take_2"]))
    fc = bake.action_fcurves(bpy.data.actions["take_2"])[0]
    fc.keyframe_points[0].co.y += 0.3
    fresh.view_layer.update()
    reads = []
    original = readback.motion_from_action
    monkeypatch.setattr(readback, "motion_from_action", lambda *a, **k: reads.append(a[1].name) or original(*a, **k))
    assert bpy.ops.motionclip.search_actions(query="a person jumps") == {'FINISHED'}
    assert reads == ["take_2"]

    assert bpy.ops.motionclip.assign_action(action=hits[1].name) == {'FINISHED'}
    assert arm.animation_data.action.name == hits[1].name


def test_search_refuses_an_empty_text_and_a_file_without_fitting_actions(fresh, tiny_model):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    fresh.view_layer.objects.active = arm
    with pytest.raises(RuntimeError, match="no action in this file animates"):
        bpy.ops.motionclip.search_actions(query="a person walks")
    _actions(arm, 1)
    with pytest.raises(RuntimeError, match="the text is empty"):
        bpy.ops.motionclip.search_actions(query="  ")
    with pytest.raises(RuntimeError, match="no action named"):
        bpy.ops.motionclip.assign_action(action="nope")


def test_the_digest_follows_the_content(fresh):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    _actions(arm, 2)
    a, b = bpy.data.actions["take_0"], bpy.data.actions["take_1"]
    assert search_ops.action_digest(arm, a) == search_ops.action_digest(arm, a)
    assert search_ops.action_digest(arm, a) != search_ops.action_digest(arm, b)


def test_a_file_load_forgets_the_digests(fresh):
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    _actions(arm, 1)
    search_ops.cached_digest(arm, bpy.data.actions["take_0"], set(arm.data.bones.keys()), "k")
    assert search_ops._DIGESTS
    bpy.ops.wm.read_homefile(use_empty=True)
    assert not search_ops._DIGESTS
