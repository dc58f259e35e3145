"""The latent tools seen from the panels and the file: recognition with the bundled model, one undo step per
operation, the panels handing their settings to the operators, and actions that cannot be read."""

from __future__ import annotations

import pytest

import bpy
from bl_helpers import LayoutRecorder
from motionclip_blender.blender import bake, readback, rig, runtime
from motionclip_blender.core.paths import model_dir
from test_latent_ops import FPS, smpl, state, stroll  # noqa: F401  (smpl: a fixture)

PROMPTS = {
    "a person walks forward": {"walk", "march", "walk in a circle"},
    "a person runs forward": {"run", "jog", "sprint"},
    "a person jumps up and down": {"jump", "jump forward", "hop on one foot", "do jumping jacks"},
    "a person climbs": {"climb", "climb a ladder"},
    "a person dances": {"dance", "spin"},
    "a person dribbles a basketball": {"play basketball"},
}


def test_recognition_of_clear_prompts_with_the_bundled_model(fresh, prefs):
    # The bundled model is part of the repository: its absence is a failure, not a reason to skip.
    assert (model_dir() / "config.json").is_file(), f"the bundled model is missing: {model_dir()}"
    prefs.checkpoint_path = ""
    runtime.clear_cache()
    fresh.scene.render.fps = FPS
    arm, _ = rig.add_smpl_rig(fresh, with_body=False)
    hits, seen = 0, []
    for prompt, right in PROMPTS.items():
        assert bpy.ops.motionclip.generate(prompt=prompt, seconds=2.0) == {'FINISHED'}
        assert bpy.ops.motionclip.recognize() == {'FINISHED'}
        top = arm.motionclip_recognition.items[0].name
        hits += top in right
        seen.append(f"{prompt!r} -> {top!r}")
    rate = hits / len(PROMPTS)
    runtime.clear_cache()
    assert rate >= 0.5, f"top-1 recognition {hits}/{len(PROMPTS)} = {rate:.0%} (floor 50%): " + "; ".join(seen)
    print(f"top-1 recognition of clear prompts: {hits}/{len(PROMPTS)} = {rate:.0%}")


def test_one_undo_step_and_invoke_in_background(smpl):
    """As in test_generate: background mode pushes no undo steps itself, so the test pushes what the UI would."""
    from motionclip_blender.blender.ops import latent as latent_ops

    assert all({'REGISTER', 'UNDO'} <= cls.bl_options for cls in latent_ops.MODEL_OPERATORS)
    bake.bake_motion(smpl, stroll(), "A", start_frame=1)
    bake.bake_motion(smpl, stroll(arms=1.0), "B", start_frame=1)
    bpy.ops.ed.undo_push(message="setup")
    before = state(smpl)
    assert bpy.ops.motionclip.blend('INVOKE_DEFAULT', action_a="A", action_b="B", crossfade=5) == {'FINISHED'}
    bpy.ops.ed.undo_push(message="Blend Clips")
    assert state(bpy.data.objects["SMPL_Rig"]) != before
    bpy.ops.ed.undo()
    assert state(bpy.data.objects["SMPL_Rig"]) == before


def test_panels_draw_and_fill_operator_properties(smpl):
    from types import SimpleNamespace

    from motionclip_blender.blender.ui import latent as lp

    assert lp.VIEW3D_PT_motionclip_latent.bl_parent_id == "VIEW3D_PT_motionclip"
    bake.bake_motion(smpl, stroll(), "walk", start_frame=1)
    bpy.context.scene.motionclip_latent.action_a = bpy.data.actions["walk"]
    log = []
    for panel in (lp.VIEW3D_PT_motionclip_latent, lp.VIEW3D_PT_motionclip_blend, lp.VIEW3D_PT_motionclip_edit,
                  lp.VIEW3D_PT_motionclip_recognize, lp.VIEW3D_PT_motionclip_variations):
        panel.draw(SimpleNamespace(layout=LayoutRecorder(log)), bpy.context)
    assert ("motionclip.blend", "action_a", "walk") in log and ("motionclip.variations", "seed", 1) in log
    from motionclip_blender.core.model.labels import default_labels

    assert bpy.ops.motionclip.labels_reset() == {'FINISHED'}
    labels = bpy.context.scene.motionclip_latent.labels
    assert [i.name for i in labels] == default_labels()
    assert bpy.ops.motionclip.label_add(name="moonwalk") == {'FINISHED'}
    assert [i.name for i in labels] == default_labels() + ["moonwalk"]
    assert bpy.ops.motionclip.label_remove() == {'FINISHED'} and [i.name for i in labels] == default_labels()


def test_nan_keys_and_stray_far_keys_are_named_not_read(smpl):
    """A NaN key names the bone and frame; a stray key at frame 100000 is refused at once instead of freezing
    Blender for the time it takes to evaluate 100000 frames."""
    import time

    action = bake.bake_motion(smpl, stroll(), "walk", start_frame=1)
    fc = next(f for f in readback.fcurves_of(action) if "left_knee" in f.data_path)
    fc.keyframe_points[3].co.y = float("nan")
    before = state(smpl)
    with pytest.raises(RuntimeError, match="NaN or infinite key: bone 'left_knee' at frame 4"):
        bpy.ops.motionclip.recognize()
    assert state(smpl) == before
    fc.keyframe_points[3].co.y = 0.0
    fc.keyframe_points.insert(100000, 0.0)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="spans 100000 frames"):
        bpy.ops.motionclip.recognize()
    assert time.perf_counter() - start < 1.0
    assert state(smpl) == before
