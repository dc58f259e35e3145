"""Retargeting in Blender: read rigs, resolve bone maps, bake through bake.py's fast fcurve path.

The math is ``core/rig/retarget.py`` (bpy-free, exact both ways); this module only moves data between it and
Blender: rest matrices and evaluated pose matrices come out with ``foreach_get`` (column-major: transposed
here), pose channels go back with ``keyframe_points.add`` + ``foreach_set`` (``bake.write_fcurve``).

Any rig, either side: the source is read back into a core Motion on SMPL 24 (``read_motion``) and that Motion
is retargeted onto the target (``retarget_motion``), so SMPL -> rig, rig -> rig and rig -> SMPL are one path.
Nothing is created before every input is checked; a failing bake removes its half-made action. The Retarget
operator and the map editor's operators are in ``ops/retarget.py``.

Top-level imports stay torch-free (``core.rig.presets``, ``core.rig.bone_names`` only) so the add-on still enables without torch.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from ..core.errors import MotionCLIPError
from ..core.rig import bone_names
from ..core.rig import presets as rig_maps
from . import deps

ROOT_MODE_ITEMS = (
    ('FULL', "Full", "Root motion scaled by the ratio of hip heights, relative to where the rig stands at rest"),
    ('IN_PLACE', "In Place", "Drop horizontal root motion, keep the vertical (jumps, crouches)"),
    ('KEEP_START', "From Current", "Start at the character's current position and heading"),
)
AUTO, CUSTOM = "AUTO", "CUSTOM"


class MapError(MotionCLIPError, ValueError):
    """A rig or bone map that cannot be used; the message names the missing joints and bones."""

    def __init__(self, message: str, missing: list[str] | None = None):
        super().__init__(message)
        self.missing = missing or []


# --- presets and maps ---------------------------------------------------------------------------
def preset_dir(create: bool = False) -> str:
    """User presets: the extension's user directory; from a checkout (legacy add-on, tests) the same layout
    under Blender's user extensions dir (inside ``$BLENDER_USER_RESOURCES`` when that is set)."""
    try:
        return bpy.utils.extension_path_user(deps.ADDON_PACKAGE, path="retarget_presets", create=create)
    except ValueError:  # "package does not name an extension"
        return bpy.utils.user_resource(
            'EXTENSIONS', path=f".user/{deps.ADDON_PACKAGE.rpartition('.')[2]}/retarget_presets", create=create)


def presets() -> dict:
    return rig_maps.available_presets(preset_dir())


def scene_options(context) -> tuple[str, dict, str]:
    """(preset, custom map, root mode) from the Retarget panel; defaults when it is unavailable."""
    settings = getattr(context.scene, "motionclip_retarget", None)
    if settings is None:
        return AUTO, {}, 'FULL'
    return settings.preset_id, {i.joint: i.bone for i in settings.bones if i.bone}, settings.root_motion


def resolve_map(arm, preset: str = AUTO, custom: dict | None = None) -> tuple[dict, str]:
    """(bone map, description) for ``arm``; raises MapError naming what is missing."""
    names = [b.name for b in arm.data.bones]
    if preset == CUSTOM:
        try:
            bone_map = bone_names.check_bone_map(custom or {}, names)
        except bone_names.BoneMapError as exc:
            raise MapError(f"custom map for '{arm.name}': {exc}") from None
        label, expected = "custom map", {}
    elif preset == AUTO:
        available = presets()
        found = rig_maps.detect(names, available)
        bone_map, label = found.bone_map, found.report()
        expected = available[found.preset].candidates if found.preset else {}
    else:
        available = presets()
        if preset not in available:
            raise MapError(f"unknown preset '{preset}' (available: AUTO, CUSTOM, {', '.join(available)})")
        bone_map = available[preset].resolve(names)
        label = f"{preset}: {len(bone_map)}/24 joints, confidence {rig_maps.confidence(bone_map):.0%}"
        expected = available[preset].candidates
    missing = bone_names.missing_required(bone_map)
    if missing:
        detail = ", ".join(f"{j} (no bone such as '{_suggest(j, bone_map, expected)}')"
                           if _suggest(j, bone_map, expected) else j for j in missing)
        raise MapError(f"'{arm.name}' lacks bones for required joints: {detail} [{label}]", missing)
    return bone_map, label


_SIDE_TOKENS = (("Left", "Right"), ("left", "right"), ("LEFT", "RIGHT"), (".L", ".R"), ("_L", "_R"), ("_l", "_r"),
                ("L_", "R_"), ("l_", "r_"))


def _suggest(joint: str, bone_map: dict, expected: dict) -> str:
    """The bone name a missing joint would have on this rig: the mapped mirror bone with its side swapped
    (keeps the rig's prefix and case, e.g. mixamorig:LeftForeArm), else the preset's first candidate."""
    side, _, part = joint.partition("_")
    if side in ("left", "right") and part:
        other = bone_map.get(("right_" if side == "left" else "left_") + part, "")
        for left, right in _SIDE_TOKENS:
            src, dst = (right, left) if side == "left" else (left, right)
            if src in other:
                return other.replace(src, dst, 1)
    return (expected.get(joint) or ("",))[0]


def validate_target(context, arm, preset: str | None = None, custom: dict | None = None) -> None:
    """Everything Generate needs of a mapped rig, checked before the model runs: the map (``preset``/``custom``,
    by default the Retarget panel's), the rest or reference pose, the retargeting frame. Raises MapError; stores
    nothing."""
    if preset is None:
        preset, custom, _ = scene_options(context)
    bone_map, _ = resolve_map(arm, preset, custom)
    from .binding import bind

    bind(context, arm, bone_map, store=False)


def check_generate_target(obj, smpl_reason: str) -> tuple[bool, str]:
    """For Generate on a non-SMPL armature: ok when the panel's map fits it, else one reason covering both."""
    preset, custom, _ = scene_options(bpy.context)
    try:
        resolve_map(obj, preset, custom)
    except MapError as exc:
        missing = ", ".join(exc.missing[:4]) + (" …" if len(exc.missing) > 4 else "")
        return False, (f"{smpl_reason.split(';')[0]}, and no bone map fits it (no bone for {missing or exc}): "
                       "use Add SMPL Rig, or map its bones in the Retarget panel")
    return True, ""


# --- reading rigs -------------------------------------------------------------------------------
def _matrices(collection, prop: str, n: int) -> np.ndarray:
    buf = np.empty(n * 16, np.float32)
    collection.foreach_get(prop, buf)
    return buf.reshape(n, 4, 4).transpose(0, 2, 1).astype(np.float64)  # Blender hands them column-major


def rig_rest(arm):
    """core RigRest of an armature object (with its current object transform)."""
    from ..core.rig.retarget import RigRest

    bones = arm.data.bones
    n = len(bones)
    tails = np.empty(n * 3, np.float32)
    bones.foreach_get("tail_local", tails)
    rig = RigRest.build([b.name for b in bones], [b.parent.name if b.parent else None for b in bones],
                        _matrices(bones, "matrix_local", n), tails.reshape(n, 3), np.array(arm.matrix_world),
                        [b.use_connect for b in bones])
    rig.pose_order = np.array([bones.find(name) for name in rig.names])  # pose.bones share data.bones' order
    return rig


def current_pose(arm, rig) -> np.ndarray:
    """Evaluated armature-space pose matrices (B, 4, 4) in ``rig.names`` order, as shown now."""
    return _matrices(arm.pose.bones, "matrix", len(arm.pose.bones))[rig.pose_order]


def sample_pose(context, arm, rig, frames) -> np.ndarray:
    """Pose matrices (F, B, 4, 4) per frame, in the frame of the object's current transform (object animation
    is folded in). Restores the current frame."""
    scene = context.scene
    keep = scene.frame_current, scene.frame_subframe
    ref_inv = np.linalg.inv(rig.object_matrix)
    out = np.empty((len(frames), len(rig.names), 4, 4))
    try:
        for k, f in enumerate(frames):
            scene.frame_set(int(f))
            out[k] = ref_inv @ np.array(arm.matrix_world) @ current_pose(arm, rig)
    finally:
        scene.frame_set(keep[0], subframe=keep[1])
    return out


def action_frames(arm) -> tuple[int, int]:
    from . import readback

    ad = arm.animation_data
    if ad is None or ad.action is None:
        raise MapError(f"'{arm.name}' has no action to read: bake or assign one first")
    if not readback.animated_bones(ad.action, readback.slot_for(arm, ad.action)) & set(arm.data.bones.keys()):
        raise MapError(f"action '{ad.action.name}' on '{arm.name}' keys none of its bones: there is no motion to "
                       "retarget (it would bake the rest pose)")
    first, last = ad.action.frame_range
    return int(round(first)), int(round(last))


def read_motion(context, arm, frame_start: int | None = None, frame_end: int | None = None,
                preset: str = AUTO, custom: dict | None = None, fps: float | None = None):
    """A mapped rig's animation (its action's range by default) -> core Motion on SMPL 24, one pose per frame
    timed at ``fps`` (default: the scene's). For encode / recognize / edit of animation made on any rig."""
    from .bake import scene_fps

    if frame_start is None or frame_end is None:
        frame_start, frame_end = action_frames(arm)
    from .binding import bind

    bone_map, _ = resolve_map(arm, preset, custom)
    rig, rt, _ = bind(context, arm, bone_map)
    pose = sample_pose(context, arm, rig, range(frame_start, frame_end + 1))
    return rt.from_rig(pose, fps or scene_fps(context.scene))


# --- baking -------------------------------------------------------------------------------------
def bake_channels(arm, channels, name: str, start_frame: int = 1, props: dict | None = None):
    """PoseChannels -> a new action on ``arm`` (assigned), through bake.py's foreach_set path. Channels that
    never change get a single key. The previous action gets a fake user, as bake.bake_motion does."""
    from .bake import assign_action, begin_action, write_fcurve

    frames = np.arange(channels.quaternions.shape[0], dtype=np.float32) + start_frame
    action, slot, new_fcurve = begin_action(arm, name, props)

    def write(bone, prop, values):
        path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'
        for i in range(values.shape[1]):
            v = np.ascontiguousarray(values[:, i], dtype=np.float32)
            const = np.ptp(v) < 1e-7
            write_fcurve(new_fcurve(path, i, bone), frames[:1] if const else frames, v[:1] if const else v)

    write(channels.location_bone, "location", channels.location)
    for bone in channels.still:
        write(bone, "location", np.zeros((1, 3), np.float32))
    for k, bone in enumerate(channels.bones):
        mode = arm.pose.bones[bone].rotation_mode
        if mode in EULER_ORDERS:  # the rig's other actions (its mocap) key Euler angles: keep its mode
            write(bone, "rotation_euler", continuous_euler(channels.quaternions[:, k], mode))
        else:
            write(bone, "rotation_quaternion", channels.quaternions[:, k])
            arm.pose.bones[bone].rotation_mode = 'QUATERNION'
    assign_action(arm, action, slot)
    return action


EULER_ORDERS = ('XYZ', 'XZY', 'YXZ', 'YZX', 'ZXY', 'ZYX')


def continuous_euler(quats: np.ndarray, order: str) -> np.ndarray:
    """(F, 4) w-first quaternions -> (F, 3) Euler angles in ``order``, each frame the equivalent closest to
    the previous one (mathutils' compatible conversion), so the curves never jump by 2π or flip branches.
    Switching Euler bones to quaternions instead broke every other action of the rig: an imported BVH's
    Euler keys stop applying, and an NLA blend of the mocap with a generated clip played the mocap unrotated."""
    from mathutils import Quaternion

    out = np.empty((len(quats), 3), np.float32)
    previous = None
    for f, q in enumerate(quats.astype(np.float64)):
        e = Quaternion(q).to_euler(order) if previous is None else Quaternion(q).to_euler(order, previous)
        out[f] = e
        previous = e
    return out


def constraint_note(arm, bones) -> str:
    """For the report: which keyed bones carry constraints that may override their keys ("" if none)."""
    constrained = [b for b in bones if arm.pose.bones[b].constraints]
    if not constrained:
        return ""
    return (f"{len(constrained)} keyed bones have constraints that may override the keys "
            f"({', '.join(constrained[:3])}{' …' if len(constrained) > 3 else ''})")


def retarget_motion(context, arm, motion, name: str, *, preset: str = AUTO, custom: dict | None = None,
                    root_mode: str = 'FULL', start_frame: int | None = None, target_fps: float | None = None,
                    props: dict | None = None):
    """Bake a core Motion onto any mapped armature; returns (action, notes). Raises MapError / RetargetError
    before touching data; removes its action and restores the bones' rotation modes if the bake itself fails."""
    from ..core.rig.retarget import RetargetError
    from .bake import rollback_on_failure

    from .binding import bind

    bone_map, label = resolve_map(arm, preset, custom)
    rig, rt, reference = bind(context, arm, bone_map)
    try:
        if target_fps is not None:
            motion = motion.at_fps(target_fps)
        channels = rt.to_rig(motion, root_mode, current_pose(arm, rig) if root_mode == 'KEEP_START' else None)
    except RetargetError as exc:
        raise MapError(f"'{arm.name}': {exc}") from None
    notes = [label] + ([f"measured against its {reference}"] if reference != "rest pose" else []) + rt.warnings
    note = constraint_note(arm, bone_map.values())
    if note:
        notes.append(note)
    props = {**(props or {}), "retarget_map": json.dumps(bone_map)}
    with rollback_on_failure(arm):
        action = bake_channels(arm, channels, name, context.scene.frame_start if start_frame is None else start_frame,
                               props)
    return action, notes
