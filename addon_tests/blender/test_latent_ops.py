"""Latent operators in real Blender: sequence on NLA (crossfade, no root jump), mix, interpolate, edit,
recognize, variations, readback, bad inputs; with the tiny random checkpoint, except the recognition-quality
test which needs the bundled model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bpy
from bl_helpers import counts, evaluated_joint_positions
from motionclip_blender.blender import bake, readback, rig
from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.motion.skeleton import JOINT_INDEX, rest_pelvis_height

FPS = 30


def stroll(frames=40, speed=1.0, heading=0.0, offset=(0.0, 0.0), arms=0.0, phase=0.0) -> Motion:
    """A synthetic walk: legs swing, arms raised by ``arms`` rad, root moving forward at ``speed`` m/s."""
    t = np.arange(frames) / FPS
    aa = np.zeros((frames, 24, 3), np.float32)
    swing = 0.5 * np.sin(2 * np.pi * t + phase)
    aa[:, JOINT_INDEX["left_hip"], 0], aa[:, JOINT_INDEX["right_hip"], 0] = swing, -swing
    aa[:, JOINT_INDEX["left_shoulder"], 1], aa[:, JOINT_INDEX["right_shoulder"], 1] = -arms, arms
    quat = R.axis_angle_to_quaternion(torch.from_numpy(aa)).numpy()
    trans = np.stack([np.zeros(frames), -speed * t, np.full(frames, rest_pelvis_height())], 1)
    m = Motion(quat, trans, FPS).rotated_about_z(heading)
    return Motion(m.rotations, m.translation + np.array([*offset, 0.0], np.float32), FPS)


@pytest.fixture
def smpl(fresh, tiny_model):
    fresh.scene.render.fps = FPS
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    return arm


def state(arm=None) -> tuple:
    """What a refused operator must leave alone: data counts, plus the rig's action and NLA tracks."""
    ad = arm.animation_data if arm is not None else None
    return counts() + ((ad.action.name if ad and ad.action else None, len(ad.nla_tracks) if ad else 0),)


def facing(motion: Motion, i: int) -> float:
    return float(motion[i:i + 1].heading()[0])


def test_readback_inverts_the_bake(smpl):
    from test_bake import random_motion

    motion = random_motion(frames=20, fps=FPS)
    action = bake.bake_motion(smpl, motion, "r", start_frame=5)
    back = readback.motion_from_action(smpl, action)
    assert len(back) == 20 and back.fps == FPS
    assert np.abs(back.joint_positions() - motion.joint_positions()).max() < 1e-4
    # hand-keyed Euler channels are read too
    pb = smpl.pose.bones["left_elbow"]
    pb.rotation_mode = 'XYZ'
    act = bpy.data.actions.new("euler")
    smpl.animation_data.action = act
    pb.rotation_euler = (0.0, 0.0, 1.0)
    pb.keyframe_insert("rotation_euler", frame=1)
    pb.keyframe_insert("rotation_euler", frame=3)
    e = readback.motion_from_action(smpl, act)
    assert len(e) == 3 and abs(np.degrees(2 * np.arccos(min(1.0, abs(e.rotations[1, JOINT_INDEX["left_elbow"], 0]))))
                                - 57.2958) < 0.1


def test_sequence_crossfade_lies_between_and_no_root_jump(smpl):
    a = stroll()
    b = stroll(heading=1.3, offset=(3.0, 2.0), arms=1.2, phase=1.0)  # elsewhere, turned, arms up
    act_a = bake.bake_motion(smpl, a, "A", start_frame=1)
    bake.bake_motion(smpl, b, "B", start_frame=1)
    assert bpy.ops.motionclip.blend(mode='SEQUENCE', action_a="A", action_b="B", crossfade=10) == {'FINISHED'}
    ad = smpl.animation_data
    assert ad.action is None and len(ad.nla_tracks) == 2
    strip_a, strip_b = ad.nla_tracks[0].strips[0], ad.nla_tracks[1].strips[0]
    assert strip_a.action == act_a and strip_b.blend_in == 10
    b0 = int(strip_b.frame_start)
    assert b0 == 40 - 10 and int(strip_b.frame_end) == b0 + 39
    b_aligned = readback.motion_from_action(smpl, strip_b.action)
    # B's start sits on A where it takes over: same root xy and heading
    assert np.abs(b_aligned.translation[0, :2] - a.translation[b0 - 1, :2]).max() < 1e-4
    assert abs(facing(b_aligned, 0) - facing(a, b0 - 1)) < 1e-3
    roots = np.array([evaluated_joint_positions(smpl, f)[0] for f in range(1, b0 + 40)])
    steps = np.linalg.norm(np.diff(roots, axis=0), axis=1)
    assert steps.max() < 0.06, f"root jump {steps.max():.3f} m at frame {steps.argmax() + 1}"  # walk: 0.033 m/frame
    f = b0 + 5  # half way through the crossfade
    p = evaluated_joint_positions(smpl, f)
    pa, pb = a.joint_positions()[f - 1], b_aligned.joint_positions()[f - b0]
    d_ab, d_a, d_b = (np.linalg.norm(x - y, axis=1).mean() for x, y in ((pa, pb), (p, pa), (p, pb)))
    assert d_ab > 0.1 and d_a > 0.2 * d_ab and d_b > 0.2 * d_ab, (d_ab, d_a, d_b)  # differs from both
    assert d_a < d_ab and d_b < d_ab, (d_ab, d_a, d_b)  # and lies between them
    assert np.linalg.norm(p - (pa + pb) / 2, axis=1).mean() < 0.35 * d_ab
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (1, b0 + 39)


def test_sequence_from_prompts_with_latent_transition(smpl):
    assert bpy.ops.motionclip.blend(mode='SEQUENCE', prompt_a="a person walks", prompt_b="a person sits down",
                                    seconds=1.0, crossfade=5, transition=True, transition_seconds=0.5) == {'FINISHED'}
    tracks = smpl.animation_data.nla_tracks
    assert [t.name.split(":")[0] for t in tracks] == ["MC 1", "MC 2", "MC 3"]
    starts = [int(t.strips[0].frame_start) for t in tracks]
    assert starts == [1, 1 + 29 - 5, 1 + 29 - 5 + 14 - 5]  # 30-frame clips, a 15-frame transition
    clips = [readback.motion_from_action(smpl, t.strips[0].action) for t in tracks]
    for k in range(2):  # each clip starts on the previous one's first crossfade frame, at its root xy
        i = starts[k + 1] - starts[k]
        assert np.abs(clips[k + 1].translation[0, :2] - clips[k].translation[i, :2]).max() < 1e-4


def mixed(arm, alpha) -> Motion:
    assert bpy.ops.motionclip.blend(mode='MIX', prompt_a="a person walks", prompt_b="a person jumps",
                                    alpha=alpha, seconds=1.0) == {'FINISHED'}
    return readback.motion_from_action(arm, arm.animation_data.action)


def test_mix_endpoints_reproduce_a_and_b(smpl, tiny_model):
    gen_a = tiny_model.generate("a person walks", frames=30).joint_positions()
    gen_b = tiny_model.generate("a person jumps", frames=30).joint_positions()
    m0, m1, mid = (mixed(smpl, a).joint_positions() for a in (0.0, 1.0, 0.5))
    assert np.abs(m0 - gen_a).max() < 1e-4 and np.abs(m1 - gen_b).max() < 1e-4
    assert np.abs(mid - gen_a).max() > 1e-3 and np.abs(mid - gen_b).max() > 1e-3
    assert smpl.animation_data.action["alpha"] == 0.5 and smpl.animation_data.action.use_fake_user


def test_interpolate_writes_in_betweens(smpl, tiny_model):
    assert bpy.ops.motionclip.interpolate(prompt_a="a person walks", prompt_b="a person jumps", count=3,
                                          seconds=1.0) == {'FINISHED'}
    made = sorted((a for a in bpy.data.actions if a.get("operation") == "interpolate"), key=lambda a: a["t"])
    assert [round(a["t"], 2) for a in made] == [0.25, 0.5, 0.75] and all(a.use_fake_user for a in made)
    from motionclip_blender.core.model.api import mix_latents

    z = mix_latents(tiny_model.latent("a person walks"), tiny_model.latent("a person jumps"), 0.5)
    expected = tiny_model.decode_clip(z, 30).joint_positions()  # decoded and cleaned, as every made clip
    assert np.abs(readback.motion_from_action(smpl, made[1]).joint_positions() - expected).max() < 1e-4


def test_edit_on_active_action(smpl, tiny_model):
    bake.bake_motion(smpl, stroll(frames=45), "walk", start_frame=1)
    assert bpy.ops.motionclip.edit(minus_prompt="walk", plus_prompt="run with raised arms") == {'FINISHED'}
    action = smpl.animation_data.action
    assert action["operation"] == "edit" and action["base"] == "walk" and action["plus"] == "run with raised arms"
    expected = tiny_model.edit(readback.motion_from_action(smpl, bpy.data.actions["walk"]), "walk",
                               "run with raised arms")
    assert len(expected) == 45
    assert np.abs(readback.motion_from_action(smpl, action).joint_positions() - expected.joint_positions()).max() < 1e-3


def test_recognize_stores_ranked_labels(smpl, tiny_model):
    bake.bake_motion(smpl, stroll(), "walk", start_frame=1)
    assert bpy.ops.motionclip.recognize() == {'FINISHED'}
    settings = bpy.context.scene.motionclip_latent
    from motionclip_blender.core.model.labels import default_labels

    assert settings.labels_seeded and [i.name for i in settings.labels] == default_labels()  # assets/labels.txt
    result = smpl.motionclip_recognition
    ranked = [(i.name, i.score) for i in result.items]
    assert result.action == "walk" and len(ranked) == 5
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    expected = tiny_model.recognize(readback.motion_from_action(smpl), [l.name for l in settings.labels])
    assert [n for n, _ in ranked] == [n for n, _ in expected]
    assert bpy.ops.motionclip.recognize(labels="walk, run\njump", top_k=2) == {'FINISHED'}
    assert len(result.items) == 2 and {i.name for i in result.items} <= {"walk", "run", "jump"}


def test_variations_are_seeded_generations(smpl, tiny_model):
    assert bpy.ops.motionclip.variations(prompt="a person jumps", count=3, seed=4, seconds=1.0) == {'FINISHED'}
    made = sorted((a for a in bpy.data.actions if a.get("operation") == "variations"), key=lambda a: a["seed"])
    assert [a["seed"] for a in made] == [4, 5, 6] and len({a.name for a in made}) == 3
    expected = tiny_model.generate("a person jumps", frames=30, seed=5).joint_positions()
    assert np.abs(readback.motion_from_action(smpl, made[1]).joint_positions() - expected).max() < 1e-4
    # ranked by how well each matches the prompt: the score on each action, the best one assigned
    scores = {a["seed"]: a["match"] for a in made}
    for a in made:
        motion = tiny_model.generate("a person jumps", frames=30, seed=a["seed"])
        assert abs(tiny_model.match(motion, "a person jumps") - a["match"]) < 1e-4
    by_rank = sorted(made, key=lambda a: a["rank"])
    assert [a["match"] for a in by_rank] == sorted(scores.values(), reverse=True)
    assert smpl.animation_data.action == by_rank[0]


@pytest.mark.parametrize("op, kwargs, match", [
    ("blend", dict(prompt_a="walk"), "Clip B: enter a prompt or choose an action"),
    ("blend", dict(prompt_a="walk", action_b="nope"), "no action named 'nope'"),
    ("blend", dict(action_a="walk", prompt_b="sit", crossfade=45), "Crossfade of 45 frames is not shorter"),
    ("edit", dict(minus_prompt="walk", plus_prompt="run"), "has no active action"),
    ("recognize", dict(), "has no active action"),
    ("interpolate", dict(prompt_a="walk", action_b="foreign"), "made for another rig"),
])


def test_bad_input_leaves_the_scene_untouched(smpl, op, kwargs, match):
    keep = bake.bake_motion(smpl, stroll(), "walk", start_frame=1)
    keep.use_fake_user = True
    foreign = bpy.data.actions.new("foreign")  # keys bones the SMPL rig does not have
    foreign.use_fake_user = True
    _, new_fcurve = bake.new_fcurve_container(foreign, smpl)
    new_fcurve('pose.bones["mixamorig:Hips"].location', 0, "mixamorig:Hips").keyframe_points.insert(1, 0.0)
    if op in ("edit", "recognize"):
        smpl.animation_data.action = None
    before = state(smpl)
    with pytest.raises(RuntimeError, match=match):
        getattr(bpy.ops.motionclip, op)(**kwargs)
    assert state(smpl) == before


def test_failure_while_writing_removes_what_was_made(smpl, monkeypatch):
    bake.bake_motion(smpl, stroll(), "A", start_frame=1)
    smpl.pose.bones["left_elbow"].rotation_mode = 'XYZ'  # the first clip's bake switches it to QUATERNION
    modes, before = bake.rotation_modes(smpl), state(smpl)
    original, calls = bake.bake_motion, []

    def flaky(*args, **kwargs):  # the second clip's bake fails, after the first made its action
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(bake, "bake_motion", flaky)
    with pytest.raises(RuntimeError, match=r"Blend Clips failed with an internal error \(RuntimeError: disk full\)"):
        bpy.ops.motionclip.blend(prompt_a="a person walks", prompt_b="a person sits down", seconds=1.0)
    assert len(calls) == 2 and state(smpl) == before
    assert not bpy.data.actions["A"].use_fake_user
    assert bake.rotation_modes(smpl) == modes  # rolled back with the rest


def test_lengths_beyond_the_models_limit_fail_before_anything_is_made(fresh, short_model):
    """The short model decodes at most 2 s (60 frames at 30 fps); the scene runs at 24 fps, so an action's
    length counts at the model's rate (49 scene frames = 2 s = 61 model frames)."""
    fresh.scene.render.fps = 24
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    bake.bake_motion(arm, stroll(frames=61), "long", start_frame=1, target_fps=24)  # 2 s: 61 frames at 30 fps
    bake.bake_motion(arm, stroll(frames=60), "fits", start_frame=1, target_fps=24)
    before = state(arm)
    cases = [
        ("blend", dict(mode='MIX', prompt_a="walk", prompt_b="jump", seconds=3.0), r"Length 3 s .* at most 2 s"),
        ("blend", dict(prompt_a="walk", prompt_b="jump", seconds=1.0, transition=True, transition_seconds=2.5),
         r"Transition length 2\.5 s is longer than model 'short' can make: at most 2 s \(60 frames at 30 fps\)"),
        ("interpolate", dict(prompt_a="walk", prompt_b="jump", seconds=2.2), r"Length 2\.2 s"),
        ("edit", dict(base_action="long", minus_prompt="walk", plus_prompt="run"),
         r"Base clip of 2\.03 s \(61 frames\) is longer .* at most 2 s"),
        ("variations", dict(action="long"), r"Varied clip of 2\.03 s \(61 frames\) is longer"),
        ("variations", dict(prompt="jump", seconds=40.0), r"Length 40 s"),
    ]
    for op, kwargs, match in cases:
        with pytest.raises(RuntimeError, match=": " + match):
            getattr(bpy.ops.motionclip, op)(**kwargs)
        assert state(arm) == before, op
    assert bpy.ops.motionclip.variations(action="fits", count=1) == {'FINISHED'}


def test_empty_label_list_and_unmapped_rig(smpl):
    bake.bake_motion(smpl, stroll(), "walk", start_frame=1)
    settings = bpy.context.scene.motionclip_latent
    settings.labels_seeded = True  # the user emptied the list
    before = state(smpl)
    with pytest.raises(RuntimeError, match="label list is empty"):
        bpy.ops.motionclip.recognize()
    assert state(smpl) == before
    bpy.ops.object.armature_add()
    before = state()
    for op in ("recognize", "edit", "blend", "variations", "interpolate"):
        with pytest.raises(RuntimeError, match="unmapped rig"):
            getattr(bpy.ops.motionclip, op)(prompt_a="a", prompt_b="b") if op in ("blend", "interpolate") else \
                getattr(bpy.ops.motionclip, op)()
    assert state() == before


def test_worker_thread_and_cancel(smpl, prefs):
    """The UI path: compute in a worker thread gives the blocking result; Esc stops a multi-step job."""
    from motionclip_blender.blender import jobs
    from motionclip_blender.blender.prefs import ModelSettings
    from motionclip_blender.blender.ops import latent_work

    settings = ModelSettings.from_prefs(prefs)
    job = jobs.Job(lambda: latent_work.variations(settings, "a person jumps", count=2, seed=1, variation=0.25,
                                                  seconds=1.0, job=job))
    job.thread.start()
    job.thread.join(60)
    assert job.error is None and job.progress == 0.5 and len(job.result[0]) == 2
    job2 = jobs.Job(lambda: latent_work.variations(settings, "a person jumps", count=5, seed=1, variation=0.25,
                                                   seconds=1.0, job=job2))
    job2.cancelled = True
    job2.thread.start()
    job2.thread.join(60)
    assert isinstance(job2.error, jobs.JobCancelled)


def test_edit_and_recognize_on_a_retargeted_rig(fresh, tiny_model):
    from addon_tests import rig_builders as rb
    from motionclip_blender.blender import retarget
    from test_retarget import build_armature

    fresh.scene.render.fps = FPS
    arm = build_armature(rb.mixamo(), "Mixamo")
    retarget.retarget_motion(fresh, arm, stroll(), "MC_walk_mixamo", start_frame=1)
    fresh.view_layer.objects.active = arm
    motion = readback.motion_from_action(arm)
    # the reverse retarget gives back the walk (it was made from SMPL): recognition sees the same motion
    assert np.abs(motion.joint_positions()[:, 0, :2] - stroll().joint_positions()[:, 0, :2]).max() < 0.05
    assert bpy.ops.motionclip.recognize(labels="walk, run, jump, sit down, wave, kick") == {'FINISHED'}
    assert arm.motionclip_recognition.action == "MC_walk_mixamo" and len(arm.motionclip_recognition.items) == 5
    assert bpy.ops.motionclip.edit(minus_prompt="walk", plus_prompt="run") == {'FINISHED'}
    edited = arm.animation_data.action
    assert edited["operation"] == "edit" and "mixamorig:Hips" in readback.animated_bones(edited)
    # A (the rig's walk) then B from a prompt on NLA: B baked through the retarget, aligned where A hands over
    assert bpy.ops.motionclip.blend(action_a="MC_walk_mixamo", prompt_b="a person sits down", seconds=1.0,
                                    crossfade=8) == {'FINISHED'}
    tracks = arm.animation_data.nla_tracks
    assert len(tracks) == 2 and tracks[0].strips[0].action.name == "MC_walk_mixamo"
    b = readback.motion_from_action(arm, tracks[1].strips[0].action)
    assert np.abs(b.translation[0, :2] - motion.translation[40 - 1 - 8, :2]).max() < 0.02
    # an SMPL action cannot be blended onto the Mixamo rig
    smpl_rig, _ = rig.add_smpl_rig(fresh, with_body=False)
    bake.bake_motion(smpl_rig, stroll(), "smpl_walk", start_frame=1)
    fresh.view_layer.objects.active = arm
    before = state(arm)
    with pytest.raises(RuntimeError, match="made for another rig"):
        bpy.ops.motionclip.blend(action_a="smpl_walk", prompt_b="a person sits down")
    assert state(arm) == before


# Clear prompts for the action families the bundled model was trained on (the CMU train subjects: walking,
# running, jumping, playground climbing, dance, basketball dribbling) -> labels counted as right (near-synonyms
# in the default list). Actions absent from its training data (waving, kicking, crawling, sitting on a chair)
# are not expected to be recognised by this small model and are left to the model card.


def test_fitting_a_clips_latent_shows_progress_and_stops_on_esc(prefs):
    """A clip's latent is fitted step by step (fitting.py): the job's progress moves through the fit, and a
    cancel lands between two of its steps rather than after the whole fit."""
    from motionclip_blender.blender import jobs
    from motionclip_blender.blender.ops import latent_work
    from motionclip_blender.blender.prefs import ModelSettings

    settings = ModelSettings.from_prefs(prefs)
    seen = []

    class Recorder:
        cancelled = False

        def step(self, fraction, text=""):
            seen.append((round(fraction, 3), text))
            if self.cancelled:
                raise jobs.JobCancelled()
            if len(seen) == 40:
                self.cancelled = True  # Esc, part-way through clip A's fit

    with pytest.raises(jobs.JobCancelled):
        latent_work.mix(settings, stroll(), "a person jumps", alpha=0.5, seconds=1.0, job=Recorder())
    assert len(seen) == 41 and all(text == "fitting the latent of A" for _, text in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and 0 < seen[-1][0] < 0.3
