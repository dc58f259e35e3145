"""Render a set of motions to a CLIP image-alignment dataset: K frames per motion, 224x224, plus a manifest.

The paper's second alignment signal pulls a motion's latent toward the CLIP embedding of a rendered frame of
it. Here Blender renders those frames, so users can fine-tune on their own motions (``core/finetune.py``).

Everything happens in a private scene (``MotionCLIP_Render``) holding its own SMPL rig, body and camera, so
the user's scene, selection and render settings are never touched; the scene is removed when the job ends,
cancelled or not. The body is the mannequin of ``rig.create_body`` or, given an SMPL/SMPL-X model file, the
user's mesh (``smpl_body.py``). The camera is ``demo.frame_camera``'s orthographic front-left view, turned
with the character's heading and refitted every frame to the evaluated mesh and joints, so the whole figure
is in the image and as large as possible (what CLIP reads best).

Output directory::

    manifest.json            {"format", "items": [{motion_id, frame, path, label, camera}], "motions": [...]}
    motions/<id>.npz         the motion exactly as rendered (files re-saved, actions converted back)
    images/<id>_f0000.png    frame 0 of motion <id> (frame = 0-based index into motions/<id>.npz)

Paths in the manifest are relative to it, so a dataset can be moved. PNGs, motions and the manifest are
written to temporary names and renamed into place (a crash never leaves a half-written file under a real name).

``RenderJob.steps()`` is a generator yielding after every frame: the headless ``render_dataset`` drains it
behind a tqdm bar, the operator (``ops/render.py``) advances it on a timer so the UI stays live and Esc can
close it (``finally`` then writes the partial manifest and removes the scene).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.errors import MotionCLIPError
from ..core.motion.motion import Motion
from ..core.motion.skeleton import JOINT_NAMES
from . import bake
from . import demo, rig
from .rigs import SmplRig

FORMAT = "motionclip-render-manifest"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SCENE_NAME = "MotionCLIP_Render"


# Render engine identifiers of Blender 5.0, the manifest's minimum (4.2-4.5 called EEVEE 'BLENDER_EEVEE_NEXT').
ENGINES = {"WORKBENCH": 'BLENDER_WORKBENCH', "EEVEE": 'BLENDER_EEVEE'}
# White like the paper's renders (and like encoders._to_pil composites transparency): the body is the only
# thing CLIP sees. With the 'Standard' view transform the PNG background is exactly this colour.
BACKGROUND = (1.0, 1.0, 1.0)
BODY_COLOR = (0.8, 0.55, 0.35, 1.0)
# Datablock types the job creates, in removal order (scene and objects first: that frees their data).
_CREATED_KINDS = ("scenes", "objects", "meshes", "armatures", "cameras", "lights", "materials", "worlds", "actions")
_OWNER = "motionclip_render_job"  # ID property: the token of the job that made a datablock
AZIMUTH_DEG, ELEVATION_DEG = 25.0, 12.0  # front-left, slightly above: both arms and legs readable


class RenderError(MotionCLIPError, RuntimeError):
    """A dataset cannot be rendered; the message says why."""


@dataclass
class MotionSource:
    """One motion to render: a core Motion (from a file) or the name of an action on SMPL bone names."""

    id: str
    label: str
    motion: Motion | None = None
    action: str | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "motion"


def label_for_file(path: Path) -> str:
    """The text label of a motion file: first line of a sidecar ``<stem>.txt`` (HumanML3D style), else the
    file name as words ('jump_high.bvh' -> 'jump high')."""
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        first = sidecar.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if first and first[0].strip():
            return first[0].strip()
    return re.sub(r"[_\-.]+", " ", path.stem).strip() or path.stem


def sources_from_files(paths, labels: dict[str, str] | None = None) -> list[MotionSource]:
    """Read .npz / .bvh (/ .amc) files through the core readers; ``labels`` maps a file stem to its text."""
    from ..core.io.formats import read_any

    out = []
    for p in map(Path, paths):
        label = (labels or {}).get(p.stem) or label_for_file(p)
        out.append(MotionSource(_slug(p.stem), label, motion=read_any(str(p))))
    return out


def _action_channelbags(action):
    for layer in action.layers:
        for strip in layer.strips:
            yield from strip.channelbags


def is_smpl_action(action) -> bool:
    """True when the action keys at least the pelvis and one other SMPL pose bone."""
    paths = {fc.data_path for bag in _action_channelbags(action) for fc in bag.fcurves}
    bones = {m.group(1) for p in paths for m in [re.match(r'pose\.bones\["([^"]+)"\]', p)] if m}
    return "pelvis" in bones and len(bones & set(JOINT_NAMES)) > 1


def sources_from_actions(actions=None) -> list[MotionSource]:
    """Actions animating SMPL bones (all such actions in the file by default); label = the action's
    'prompt' property (set by Generate) or its name in words."""
    actions = [a for a in (bpy.data.actions if actions is None else actions) if is_smpl_action(a)]
    out = []
    for a in actions:
        label = str(a.get("prompt") or re.sub(r"[_.]+", " ", a.name.removeprefix(bake.ACTION_PREFIX)).strip())
        out.append(MotionSource(_slug(a.name), label or a.name, action=a.name))
    return out


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _pointers() -> dict[str, set[int]]:
    return {k: {b.as_pointer() for b in getattr(bpy.data, k)} for k in _CREATED_KINDS}


def _setup_eevee(scene, body) -> None:
    """EEVEE needs a material for the body colour, a world shader for the background and a light."""
    scene.render.engine = ENGINES["EEVEE"]
    world = scene.world
    world.use_nodes = True  # deprecated (always on) in 5.0 but required before it
    bg = next((n for n in world.node_tree.nodes if n.type == 'BACKGROUND'), None)
    if bg is not None:
        bg.inputs["Color"].default_value = (*BACKGROUND, 1.0)
        bg.inputs["Strength"].default_value = 1.0
    mat = bpy.data.materials.new("MotionCLIP_Body")
    mat.diffuse_color = body.color
    mat.use_nodes = True
    bsdf = next((n for n in mat.node_tree.nodes if n.type == 'BSDF_PRINCIPLED'), None)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = body.color
    body.data.materials.append(mat)
    sun = bpy.data.objects.new("MotionCLIP_Sun", bpy.data.lights.new("MotionCLIP_Sun", 'SUN'))
    sun.data.energy = 3.0
    sun.rotation_euler = (math.radians(50), 0.0, math.radians(-30))
    scene.collection.objects.link(sun)


class RenderJob:
    """Render ``sources`` to ``out_dir``; iterate ``steps()`` (one yield per frame) to run it."""

    def __init__(self, sources: list[MotionSource], out_dir, frames_per_motion: int = 4, size: int = 224,
                 engine: str = "WORKBENCH", smpl_model_path: str | None = None, action_fps: float = 30.0):
        if not sources:
            raise RenderError("nothing to render: no motion files or SMPL actions given")
        if frames_per_motion < 1:
            raise RenderError(f"frames per motion must be at least 1, got {frames_per_motion}")
        engine = engine.upper().removeprefix("BLENDER_")
        if engine not in ENGINES:
            raise RenderError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
        ids: dict[str, int] = {}
        for s in sources:  # unique ids: two files called walk.bvh in different folders must not collide
            n = ids.get(s.id, 0)
            ids[s.id] = n + 1
            if n:
                s.id = f"{s.id}_{n + 1}"
        self.sources, self.k, self.size, self.engine = sources, int(frames_per_motion), int(size), engine
        self.smpl_model_path, self.action_fps = smpl_model_path or None, float(action_fps)
        self.out = Path(out_dir).resolve()
        self.items: list[dict] = []
        self.motions: list[dict] = []
        self.done, self.complete = 0, False
        self.scene = None
        # The datablocks this job made (pointers per bpy.data collection, each also tagged with the job's token):
        # only these are removed at the end, whatever the user adds or renames meanwhile.
        self._token = f"{id(self):x}-{os.getpid()}-{os.urandom(4).hex()}"
        self._created: dict[str, set[int]] = {k: set() for k in _CREATED_KINDS}

    @property
    def total(self) -> int:
        return len(self.sources) * self.k

    @property
    def manifest_path(self) -> Path:
        return self.out / MANIFEST_NAME

    # --- scene ------------------------------------------------------------------------------------
    def _load_inputs(self):
        """Everything that can fail before any datablock exists: output folders, the SMPL model file."""
        demo.preload_triton()  # before the first render of the process: see its docstring (a segfault otherwise)
        for sub in ("images", "motions"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        if self.smpl_model_path:
            from ..core.rig.smpl_body import load_smpl_body

            return load_smpl_body(self.smpl_model_path)
        return None

    def _own(self, before: dict[str, set[int]]) -> None:
        """Record (and tag) every datablock created since ``before`` as this job's."""
        for kind in _CREATED_KINDS:
            for block in getattr(bpy.data, kind):
                ptr = block.as_pointer()
                if ptr not in before[kind] and ptr not in self._created[kind]:
                    block[_OWNER] = self._token
                    self._created[kind].add(ptr)

    def _setup(self, smpl) -> None:
        """The private scene with its rig, body and camera. Runs inside ``steps``' try: whatever it made before a
        failure is recorded (``_own`` in the finally) and removed by ``_teardown``."""
        before = _pointers()
        try:
            self._build_scene(smpl)
        finally:
            self._own(before)

    def _build_scene(self, smpl) -> None:
        scene = self.scene = bpy.data.scenes.new(SCENE_NAME)
        # create_armature needs edit mode on the new rig, and mode_set follows the *window's* view layer (a
        # context override of scene/view_layer is not enough): show the render scene for the few ms it takes.
        window = bpy.context.window
        user_scene = window.scene if window else None
        if window:
            window.scene = scene
        try:
            with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0], collection=scene.collection):
                ctx = bpy.context
                self.arm = rig.create_armature(ctx, name="MotionCLIP_Render_Rig")
                if smpl is not None:
                    from .smpl_body import create_smpl_body

                    self.body = create_smpl_body(ctx, self.arm, smpl, color=BODY_COLOR)
                else:
                    self.body = rig.create_body(ctx, self.arm, name="MotionCLIP_Render_Body")
        finally:
            if window:
                window.scene = user_scene
        self.body.color = BODY_COLOR
        demo.setup_workbench(scene, self.size, background=BACKGROUND)
        scene.render.film_transparent = False
        scene.view_settings.view_transform = 'Standard'  # AgX/Filmic would tint the white background grey
        scene.view_settings.look = 'None'
        if self.engine == "EEVEE":
            _setup_eevee(scene, self.body)
        self.cam = demo.frame_camera(scene, np.zeros((2, 3)) + [[0, 0, 0], [0, 0, 1]], cam=None)

    def _remove_own(self, kind: str, block) -> None:
        self._created[kind].discard(block.as_pointer())
        getattr(bpy.data, kind).remove(block)

    def _teardown(self) -> None:
        """Remove the datablocks this job made (recorded by pointer and tagged with its token), nothing else:
        the user's data, even added or renamed while the job ran, is never touched. Live collections are
        scanned rather than stored references dereferenced, so a block the user deleted is simply skipped."""
        self.scene = None
        for kind in _CREATED_KINDS:
            coll, mine = getattr(bpy.data, kind), self._created[kind]
            for block in [b for b in coll if b.as_pointer() in mine and b.get(_OWNER) == self._token]:
                self._remove_own(kind, block)
            mine.clear()

    # --- one motion -------------------------------------------------------------------------------
    def _prepare(self, src: MotionSource) -> tuple[Motion, int]:
        """Put ``src`` on the render rig; -> (its Motion, the scene frame of its frame 0)."""
        ad = self.arm.animation_data or self.arm.animation_data_create()
        old = ad.action
        ad.action = None
        if old is not None and old.as_pointer() in self._created["actions"] and old.get(_OWNER) == self._token:
            self._remove_own("actions", old)
        if src.action is None:
            before = _pointers()
            bake.bake_motion(self.arm, src.motion, f"MCR_{src.id}", start_frame=1)
            self._own(before)
            return src.motion, 1
        action = bpy.data.actions.get(src.action)
        if action is None:
            raise RenderError(f"action '{src.action}' no longer exists")
        ad.action = action
        if len(action.slots):
            # The user's action was keyed for their rig's slot; play that slot on the render rig.
            ad.action_slot = next((s for s in action.slots if s.target_id_type == 'OBJECT'), action.slots[0])
        first, last = (int(round(v)) for v in action.frame_range)
        return SmplRig(bpy.context, self.arm).read(action, (first, max(first + 1, last)), self.action_fps), first

    def _figure_points(self) -> np.ndarray:
        """World positions of the evaluated body's vertices and the rig's joints (what must be in view)."""
        dg = self.scene.view_layers[0].depsgraph
        ev = self.body.evaluated_get(dg)
        mesh = ev.to_mesh()
        try:
            co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
            mesh.vertices.foreach_get("co", co)
        finally:
            ev.to_mesh_clear()
        mw = np.array(self.body.matrix_world)
        verts = co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
        aw = np.array(self.arm.matrix_world)
        heads = np.array([np.array(pb.head) for pb in self.arm.pose.bones]) @ aw[:3, :3].T + aw[:3, 3]
        return np.concatenate([verts, heads])

    def _render_frame(self, src: MotionSource, motion: Motion, index: int, scene_frame: int) -> None:
        self.scene.frame_set(scene_frame)
        points = self._figure_points()
        heading = math.degrees(float(motion[index:index + 1].heading()[0]))
        extent = float(np.ptp(points, axis=0).max())
        demo.frame_camera(self.scene, points, azimuth_deg=AZIMUTH_DEG + heading, elevation_deg=ELEVATION_DEG,
                          margin=0.04 * extent + 0.02, cam=self.cam)
        rel = Path("images") / f"{src.id}_f{index:04d}.png"
        final = self.out / rel
        tmp = final.with_name(final.stem + ".tmp.png")
        self.scene.render.filepath = str(tmp)
        # A context override, not render(scene=...): with the scene argument Blender renders a scene that is not
        # the window's without re-evaluating its animation, so every frame showed the first frame's pose.
        with bpy.context.temp_override(scene=self.scene, view_layer=self.scene.view_layers[0]):
            bpy.ops.render.render(write_still=True)
        if not tmp.is_file():
            raise RenderError(f"Blender did not write {tmp} (engine {self.engine})")
        os.replace(tmp, final)
        self.items.append({
            "motion_id": src.id, "frame": index, "path": rel.as_posix(), "label": src.label,
            "camera": {"matrix_world": [list(map(float, r)) for r in self.cam.matrix_world],
                       "ortho_scale": float(self.cam.data.ortho_scale)},
        })

    # --- driving ----------------------------------------------------------------------------------
    def steps(self):
        """Generator: renders one frame per iteration and yields the number of frames done."""
        smpl = self._load_inputs()  # creates no datablocks: a bad SMPL file fails before anything exists
        try:
            self._setup(smpl)
            for src in self.sources:
                motion, first = self._prepare(src)
                rel = Path("motions") / f"{src.id}.npz"
                motion.save_npz(self.out / rel)  # atomic (Motion.save_npz renames into place)
                self.motions.append({"id": src.id, "label": src.label, "motion": rel.as_posix(),
                                     "frames": len(motion), "fps": motion.fps,
                                     "source": src.action and f"action:{src.action}"})
                picks = np.unique(np.linspace(0, len(motion) - 1, self.k).round().astype(int)).tolist()
                for index in picks:
                    self._render_frame(src, motion, index, first + index)
                    self.done += 1
                    yield self.done
                self.done += self.k - len(picks)  # a motion shorter than K frames renders each frame once
            self.complete = True
        finally:
            self._teardown()
            self.write_manifest()

    def write_manifest(self) -> dict:
        data = {"format": FORMAT, "format_version": FORMAT_VERSION, "complete": self.complete,
                "size": self.size, "engine": ENGINES[self.engine], "frames_per_motion": self.k,
                "body": self.smpl_model_path and f"smpl:{self.smpl_model_path}" or "mannequin",
                "background": list(BACKGROUND), "motions": self.motions, "items": self.items}
        self.out.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(self.manifest_path, data)
        return data


def render_dataset(sources, out_dir, frames_per_motion: int = 4, size: int = 224, engine: str = "WORKBENCH",
                   smpl_model_path: str | None = None, labels: dict[str, str] | None = None,
                   progress: bool = True) -> dict:
    """Headless entry (CLI, scripts): ``sources`` are MotionSources, motion file paths, or None for every
    SMPL action in the file. Returns the manifest (also written to ``<out_dir>/manifest.json``)."""
    from tqdm import tqdm

    if sources is None:
        sources = sources_from_actions()
    elif all(isinstance(s, (str, os.PathLike)) for s in sources):
        sources = sources_from_files(sources, labels)
    job = RenderJob(list(sources), out_dir, frames_per_motion, size, engine, smpl_model_path,
                    action_fps=bake.scene_fps(bpy.context.scene))
    with tqdm(total=job.total, desc="rendering", unit="frame", disable=not progress) as bar:
        for done in job.steps():
            bar.update(done - bar.n)
    return json.loads(job.manifest_path.read_text(encoding="utf-8"))
