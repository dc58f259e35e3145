"""The headless main job: prompt -> rigged, animated .blend and a rendered contact sheet.

``run_demo`` is what ``motionclip demo "a person jumps" --out demo.blend --preview demo.png`` calls. It
uses the same functions as the operators (rig, generate, bake), so the demo exercises the add-on's
real code path without needing the add-on registered.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import rig, runtime
from .prefs import ModelSettings
from .rigs import rig_for

SHEET_COLUMNS = 3


def frame_camera(scene, points: np.ndarray, azimuth_deg: float = 25.0, elevation_deg: float = 12.0,
                 margin: float = 0.2, cam=None):
    """An orthographic camera seeing every point (all joints over all frames) from the character's
    front-left; orthographic so the framing is exact and the motion's scale reads clearly. ``cam`` given:
    that camera is re-aimed instead of a new one made (``render.py`` reframes one camera per frame)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    # The character faces -Y: the camera stands on the -Y side, looking towards +Y.
    forward = Vector((-math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), -math.sin(el))).normalized()
    right = forward.cross(Vector((0, 0, 1))).normalized()
    up = right.cross(forward)
    basis = np.array([right, up, forward])
    proj = points @ basis.T  # (n, 3): along right, up, forward
    lo, hi = proj.min(0) - margin, proj.max(0) + margin
    centre = (lo + hi) / 2
    if cam is None:
        cam = bpy.data.objects.new("PreviewCamera", bpy.data.cameras.new("PreviewCamera"))
        scene.collection.objects.link(cam)
    cam.data.type = 'ORTHO'
    cam.data.ortho_scale = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    cam.data.clip_end = 1000.0
    location = Vector(centre @ basis) - forward * (float(hi[2] - lo[2]) + 5.0)
    rot = Matrix((right, up, -forward)).transposed()  # camera looks down -Z with +Y up
    cam.matrix_world = Matrix.Translation(location) @ rot.to_4x4()
    scene.camera = cam
    return cam


def _add_floor(scene, points: np.ndarray):
    """A ground plane under the motion so contact with the floor (z = 0) is visible."""
    lo, hi = points[:, :2].min(0) - 0.6, points[:, :2].max(0) + 0.6
    mesh = bpy.data.meshes.new("Floor")
    mesh.from_pydata([(lo[0], lo[1], 0), (hi[0], lo[1], 0), (hi[0], hi[1], 0), (lo[0], hi[1], 0)], [], [(0, 1, 2, 3)])
    floor = bpy.data.objects.new("Floor", mesh)
    floor.color = (0.55, 0.6, 0.65, 1.0)
    scene.collection.objects.link(floor)
    return floor


def setup_workbench(scene, size: int, background=(0.82, 0.84, 0.87)) -> None:
    scene.render.engine = 'BLENDER_WORKBENCH'
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = 'PNG'
    scene.render.image_settings.color_mode = 'RGB'
    shading = scene.display.shading
    shading.light = 'STUDIO'
    shading.color_type = 'OBJECT'  # body and floor colours set on the objects
    shading.show_shadows = True
    shading.show_cavity = False
    # Workbench draws the world's viewport colour as background: a light grey reads better than black.
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.color = background


def preload_triton() -> None:
    """Import ``triton`` (when installed) before this process renders anything.

    Headless renders run on Mesa llvmpipe, which loads its own LLVM; importing triton's LLVM-linked
    ``libtriton`` *after* that segfaults the process (measured: render, then ``import clip`` -> torchvision ->
    torch._dynamo -> triton). In the other order both work, so every render path calls this first."""
    import importlib.util
    import sys

    if "triton" in sys.modules:
        return
    try:
        if importlib.util.find_spec("triton") is not None:
            import triton  # noqa: F401
    except Exception:  # a broken triton install must not stop rendering; torch treats it as absent too
        pass


def _load_pixels(path: str) -> np.ndarray:
    img = bpy.data.images.load(path)
    try:
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(img)
    return px.reshape(h, w, 4)  # bottom row first, as Blender stores images


def render_contact_sheet(scene, frames: list[int], out_png: str, size: int = 224) -> str:
    """Render ``frames`` with the scene camera and tile them (row-major, first frame top-left) in one PNG."""
    tiles = []
    preload_triton()
    with tempfile.TemporaryDirectory(prefix="motionclip_preview_") as tmp:
        for i, f in enumerate(frames):
            scene.frame_set(f)
            scene.render.filepath = os.path.join(tmp, f"tile_{i:02d}.png")
            bpy.ops.render.render(write_still=True)
            tiles.append(_load_pixels(scene.render.filepath)[::-1])  # to top-down rows for tiling
    cols = min(SHEET_COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    h, w = tiles[0].shape[:2]
    sheet = np.ones((rows * h, cols * w, 4), dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    sheet[..., 3] = 1.0
    img = bpy.data.images.new("MotionCLIP_Preview", cols * w, rows * h, alpha=False)
    try:
        img.pixels.foreach_set(np.ascontiguousarray(sheet[::-1]).ravel())  # back to bottom-up
        img.filepath_raw = str(out_png)
        img.file_format = 'PNG'
        img.save()
    finally:
        bpy.data.images.remove(img)
    return str(out_png)


def run_demo(prompt: str, out_blend: str | os.PathLike, preview_png: str | os.PathLike | None = None, *,
             seconds: float = 2.0, seed: int | None = 0, bvh: str | os.PathLike | None = None,
             model_path: str | os.PathLike | None = None, tiles: int = 6, tile_size: int = 224) -> dict:
    """Fresh scene, SMPL rig with body, generated and baked action, saved .blend, optional preview PNG
    (contact sheet of ``tiles`` frames) and BVH. Returns paths, action name and timings."""
    times = {}
    t0 = time.perf_counter()
    settings = ModelSettings(path=str(model_path) if model_path else None)
    # Generate first: a missing model or bad prompt fails before any file is touched.
    motion, info = runtime.generate_motion(settings, prompt, seconds, seed)
    times["generate_s"] = time.perf_counter() - t0

    bpy.ops.wm.read_homefile(use_empty=True)
    context = bpy.context
    scene = context.scene
    scene.render.fps, scene.render.fps_base = int(round(motion.fps)), 1.0  # keep the model's timing exactly
    arm, body = rig.add_smpl_rig(context)
    t1 = time.perf_counter()
    action, _ = rig_for(context, arm).apply(motion, info, set_frame_range=True)
    times["bake_s"] = time.perf_counter() - t1

    points = motion.joint_positions().reshape(-1, 3)
    _add_floor(scene, points)
    frame_camera(scene, np.concatenate([points, points * [1, 1, 0]]))  # include the floor under the motion
    setup_workbench(scene, tile_size)
    scene.frame_set(scene.frame_start)

    out_blend = Path(out_blend).resolve()
    out_blend.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(out_blend), check_existing=False)
    result = {"blend": str(out_blend), "action": action.name, "frames": scene.frame_end - scene.frame_start + 1,
              "fps": scene.render.fps, "armature": arm.name, "body": body.name if body else None}
    if preview_png:
        t2 = time.perf_counter()
        preview_png = Path(preview_png).resolve()
        preview_png.parent.mkdir(parents=True, exist_ok=True)
        n = max(1, tiles)
        frames = np.linspace(scene.frame_start, scene.frame_end, n).round().astype(int).tolist()
        result["preview"] = render_contact_sheet(scene, frames, str(preview_png), tile_size)
        result["preview_frames"] = frames
        times["render_s"] = time.perf_counter() - t2
    if bvh:
        from ..core.io.bvh import write_bvh

        Path(bvh).resolve().parent.mkdir(parents=True, exist_ok=True)
        write_bvh(motion, bvh)
        result["bvh"] = str(Path(bvh).resolve())
    times["total_s"] = time.perf_counter() - t0
    result["times"] = times
    return result
