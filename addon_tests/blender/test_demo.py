"""The headless main job: .blend with the action assigned, a non-empty contact sheet, optional BVH."""

import numpy as np

import bpy
from motionclip_blender.blender.demo import run_demo


def test_demo_writes_blend_preview_and_bvh(addon, tiny_model_dir, tmp_path):
    out = run_demo("a person jumps", tmp_path / "demo.blend", tmp_path / "demo.png", seconds=1.0, seed=1,
                   bvh=tmp_path / "demo.bvh", model_path=tiny_model_dir, tiles=4, tile_size=96)
    shown = out["preview_frames"]  # the contact sheet spans the clip: first and last frame, evenly between
    assert out["frames"] == 30 and len(shown) == 4 and shown[0] == 1 and shown[-1] == 30
    assert np.ptp(np.diff(shown)) <= 1 and len(set(shown)) == 4
    bpy.ops.wm.open_mainfile(filepath=out["blend"])
    arm = bpy.data.objects[out["armature"]]
    action = arm.animation_data.action
    assert action is not None and action.name == out["action"] == "MC_a_person_jumps"
    assert arm.animation_data.action_slot == action.slots[0]
    assert action["prompt"] == "a person jumps" and action["seed"] == 1
    assert bpy.context.scene.camera is not None and (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (1, 30)
    body = bpy.data.objects[out["body"]]
    assert body.modifiers[0].object == arm

    img = bpy.data.images.load(out["preview"])
    assert tuple(img.size) == (3 * 96, 2 * 96)
    px = np.empty(img.size[0] * img.size[1] * 4, np.float32)
    img.pixels.foreach_get(px)
    rgb = px.reshape(-1, 4)[:, :3]
    assert rgb.std() > 0.05  # something was drawn, not a flat background
    assert (tmp_path / "demo.bvh").read_text().startswith("HIERARCHY")
    bpy.ops.wm.read_homefile(use_empty=True)
