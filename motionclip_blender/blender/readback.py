"""Actions on armatures: which slot and F-curves animate a rig, frame ranges, the Action FPS and timing notes,
keyed poses for Use Keys, and ``motion_from_action`` — an action read back into a core Motion through the rig's
adapter (``rigs.rig_for``), the one way animation is read back.

SMPL rigs are read directly: each fcurve is evaluated at every integer frame of the action's range and
``bake.py``'s conversion is inverted (``q = R · B · R⁻¹``, ``t = R_root · loc + head_root``), so any
action on such a rig works, hand-keyed ones included (quaternion, Euler or axis-angle channels; bones
the action does not key keep their current pose). Reading the fcurves instead of evaluating the scene
frame by frame keeps the scene (current frame, assigned action, NLA) untouched and costs milliseconds.

Other rigs go through the retarget module's reverse path (``rigs.MappedRig.read``: ``retarget.read_motion``
with the Retarget panel's bone map), which samples the evaluated pose: the action is assigned for the read
(``assigned``) and everything is restored after.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import bpy
import numpy as np
from mathutils import Euler, Quaternion

from ..core.errors import MotionCLIPError
from ..core.motion.skeleton import JOINT_NAMES
from . import retarget, rig

_BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(\w+)$')


# Reading evaluates every F-curve at every frame in Python (about 0.2 ms per frame for an SMPL rig): 20,000
# frames keep a read under about 4 s; a stray key at frame 100000 would otherwise freeze Blender for 20 s.
MAX_READ_FRAMES = 20_000


class UnmappedRigError(MotionCLIPError, ValueError):
    """The armature is neither an SMPL rig nor a rig the retarget module can map; the message says why."""


class ReadbackError(MotionCLIPError, ValueError):
    """The action cannot be read as a motion (no keys, no channels for this rig, …)."""


# --- slots and channels -----------------------------------------------------------------------------
def slot_for(arm, action):
    """The action slot that animates ``arm``: the assigned one, else the OBJECT slot named after it, else the
    first OBJECT slot (None when the action has none)."""
    ad = arm.animation_data
    if ad is not None and ad.action == action and ad.action_slot is not None:
        return ad.action_slot
    slots = [s for s in action.slots if s.target_id_type in ('OBJECT', 'UNSPECIFIED')]
    for s in slots:
        if s.name_display == arm.name:
            return s
    return slots[0] if slots else None


def fcurves_of(action, slot=None) -> list:
    """The fcurves of ``action`` for ``slot`` (all slots when None)."""
    out = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                if slot is None or bag.slot == slot:
                    out.extend(bag.fcurves)
    return out


def bone_of(data_path: str) -> str | None:
    """The pose bone an fcurve's data path animates, or None."""
    m = _BONE_PATH.match(data_path)
    return m.group(1).replace('\\"', '"') if m else None


def animated_bones(action, slot=None) -> set[str]:
    """Names of the pose bones ``action`` keys."""
    return {bone for bone in (bone_of(fc.data_path) for fc in fcurves_of(action, slot)) if bone is not None}


def check_action_fits(arm, action) -> str:
    """"" if ``action`` animates bones of ``arm`` only, else a reason naming the foreign bones (the action was
    made for another rig)."""
    bones = animated_bones(action, slot_for(arm, action))
    if not bones:
        return f"Action '{action.name}' has no bone animation for '{arm.name}'"
    foreign = sorted(bones - set(arm.data.bones.keys()))
    if foreign:
        shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
        return (f"Action '{action.name}' was made for another rig: armature '{arm.name}' lacks "
                f"{len(foreign)} of its bones ({shown})")
    return ""


def frame_range(action) -> tuple[int, int]:
    first, last = action.frame_range
    return int(round(first)), int(round(last))


# --- the entry point --------------------------------------------------------------------------------
def action_rate(action, scene) -> float:
    """The frames per second ``action``'s keys were recorded at: its Action FPS (``motionclip_fps``) when set,
    else the scene's. Blender's BVH importer at its defaults keys one frame per mocap frame and leaves the scene
    at 24 fps: a 120-fps take then plays 5x slow, and only the user knows its rate."""
    from .bake import scene_fps

    return _action_fps(action) or scene_fps(scene)


def _action_fps(action) -> float:
    """The action's own Action FPS, 0 when unset (or the property is not registered)."""
    return max(0.0, float(getattr(action, "motionclip_fps", 0.0) or 0.0))


# m/s, the fastest hand or foot (95th percentile over a take): 98 % of the 430 shared-data takes move faster
# (median 3.1 m/s; the slower ones stand still balancing or waiting to jump); CMU's 120-fps walk 07_01 read at
# 24 fps measures 0.89, a median take 0.63
SLOW_LIMB_SPEED = 1.0


def timing_note(motion, action) -> str:
    """A warning when ``action`` (read as ``motion``) looks slowed down: no Action FPS set, keys on nearly every
    frame (mocap-like), at least 2 s long, and hands and feet never faster than ``SLOW_LIMB_SPEED``."""
    if _action_fps(action) > 0 or len(motion) < 2 * motion.fps:
        return ""
    first, last = frame_range(action)
    curves = [fc for fc in fcurves_of(action, None) if len(fc.keyframe_points)]
    if not curves or max(len(fc.keyframe_points) for fc in curves) < 0.9 * (last - first + 1):
        return ""
    from ..core.motion.skeleton import JOINT_INDEX

    limbs = [JOINT_INDEX[n] for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
    speed = np.linalg.norm(np.diff(motion.joint_positions()[:, limbs], axis=0), axis=-1).max(axis=1) * motion.fps
    fastest = float(np.percentile(speed, 95))
    if fastest >= SLOW_LIMB_SPEED:
        return ""
    return (f"'{action.name}' moves unusually slowly at {motion.fps:g} fps (hands and feet at most {fastest:.2f} m/s): "
            "if it is mocap recorded at a higher rate and imported without Scale FPS, set its Action FPS in the "
            "MotionCLIP panel (e.g. 120) or import it again with Scale FPS")


def motion_from_action(arm, action=None, *, fps: float | None = None, frames: tuple[int, int] | None = None):
    """Read ``action`` (default: ``arm``'s active action) on ``arm`` into a Motion at ``fps`` (default: the
    scene's), one pose per integer frame of ``frames`` (default: the action's frame range), the poses timed at
    the action's own rate (``action_rate``).

    Raises UnmappedRigError for rigs that cannot be read, ReadbackError for unusable actions."""
    if arm is None or getattr(arm, "type", None) != 'ARMATURE':
        raise UnmappedRigError(f"'{getattr(arm, 'name', arm)}' is not an armature")
    if action is None:
        action = arm.animation_data.action if arm.animation_data else None
        if action is None:
            raise ReadbackError(f"Armature '{arm.name}' has no active action")
    if fps is None:
        from .bake import scene_fps

        fps = scene_fps(bpy.context.scene)
    frames = frames or frame_range(action)
    if frames[1] < frames[0]:
        raise ReadbackError(f"Action '{action.name}' has an empty frame range")
    if frames[1] - frames[0] + 1 > MAX_READ_FRAMES:
        raise ReadbackError(f"Action '{action.name}' spans {frames[1] - frames[0] + 1} frames ({frames[0]}-{frames[1]}), "
                            f"more than the {MAX_READ_FRAMES} MotionCLIP reads; set a shorter manual frame range on "
                            f"the action (Action > Manual Frame Range) or remove stray keys far from the motion")
    reason = check_action_fits(arm, action)
    if reason:
        raise ReadbackError(reason)
    from .rigs import rig_for

    adapter = rig_for(bpy.context, arm)
    return adapter.read(action, frames, action_rate(action, bpy.context.scene)).at_fps(fps)


def rig_problem(arm) -> str:
    """"" when actions on ``arm`` can be read (and Motions baked): an SMPL rig, or one the Retarget panel's bone
    map fits; else the reason, naming the missing bones."""
    if rig.is_smpl_armature(arm)[0]:
        return ""
    preset, custom, _ = retarget.scene_options(bpy.context)
    try:
        retarget.resolve_map(arm, preset, custom)
    except ValueError as exc:
        return f"Armature '{arm.name}' is an unmapped rig: {exc}"
    return ""


@contextmanager
def assigned(arm, action, slot):
    """``action`` as ``arm``'s only animation for the block (the retarget reader samples the evaluated pose),
    then everything as it was."""
    had_ad = arm.animation_data is not None
    ad = arm.animation_data_create()
    before = (ad.action, ad.action_slot, ad.use_nla)
    try:
        ad.use_nla = False
        ad.action = action
        if slot is not None:
            ad.action_slot = slot
        yield
    finally:
        ad.action = before[0]
        if before[0] is not None and before[1] is not None:
            ad.action_slot = before[1]
        ad.use_nla = before[2]
        if not had_ad:
            arm.animation_data_clear()


def smpl_motion_from_action(arm, action, fps: float, frames: tuple[int, int]):
    from ..core.motion.motion import Motion
    from ..core.motion.quaternions import mat_to_quat, quat_to_mat
    from .bake import rest_rotations

    times = np.arange(frames[0], frames[1] + 1, dtype=np.float64)
    curves = {(fc.data_path, fc.array_index): fc for fc in fcurves_of(action, slot_for(arm, action))}

    def channel(path: str, size: int, default) -> np.ndarray:
        """(F, size) values of one property; unkeyed components keep ``default``."""
        out = np.empty((len(times), size))
        for i in range(size):
            fc = curves.get((path, i))
            out[:, i] = [fc.evaluate(t) for t in times] if fc is not None else default[i]
        return out

    local = np.empty((len(times), len(JOINT_NAMES), 4))
    for j, name in enumerate(JOINT_NAMES):
        pb = arm.pose.bones[name]
        base = f'pose.bones["{name}"].'
        has = {kind: any((base + kind, i) in curves for i in range(4))
               for kind in ("rotation_quaternion", "rotation_euler", "rotation_axis_angle")}
        if has["rotation_quaternion"] or (pb.rotation_mode == 'QUATERNION' and not has["rotation_euler"]):
            local[:, j] = channel(base + "rotation_quaternion", 4, tuple(pb.rotation_quaternion))
        elif has["rotation_axis_angle"] or pb.rotation_mode == 'AXIS_ANGLE':
            aa = channel(base + "rotation_axis_angle", 4, tuple(pb.rotation_axis_angle))
            local[:, j] = [tuple(Quaternion(v[1:], v[0])) for v in aa]
        else:  # Euler keys (or an Euler bone without keys): the bone's order, XYZ if it says quaternion
            order = pb.rotation_mode if len(pb.rotation_mode) == 3 else 'XYZ'
            eul = channel(base + "rotation_euler", 3, tuple(pb.rotation_euler))
            local[:, j] = [tuple(Euler(v, order).to_quaternion()) for v in eul]
    loc = channel(f'pose.bones["{JOINT_NAMES[0]}"].location', 3, tuple(arm.pose.bones[JOINT_NAMES[0]].location))
    bad = ~np.isfinite(local).all(axis=-1)
    bad[:, 0] |= ~np.isfinite(loc).all(axis=-1)
    if bad.any():
        f, j = np.argwhere(bad)[0]
        raise ReadbackError(f"Action '{action.name}' has a NaN or infinite key: bone '{JOINT_NAMES[j]}' at frame "
                            f"{int(times[f])}")
    norms = np.linalg.norm(local, axis=-1, keepdims=True)
    local = np.where(norms > 1e-8, local / np.maximum(norms, 1e-12), [1.0, 0.0, 0.0, 0.0])
    rest_rot, rest_head = rest_rotations(arm)
    # Inverse of bake.motion_to_pose_channels: B = R⁻¹ q R  =>  q = R B R⁻¹; loc = R⁻¹ (t − head) => t = R loc + head.
    q = rest_rot[None] @ quat_to_mat(local) @ np.swapaxes(rest_rot, -1, -2)[None]
    translation = loc @ rest_rot[0].T + rest_head[0]
    return Motion(mat_to_quat(q), translation, fps)


def keyed_frames(action, slot=None, bones=None) -> list[int]:
    """Integer frames where ``action`` has a key on any bone channel (of ``bones`` when given)."""
    frames = set()
    for fc in fcurves_of(action, slot):
        bone = bone_of(fc.data_path)
        if bone is not None and (bones is None or bone in bones):
            co = np.empty(2 * len(fc.keyframe_points), np.float32)
            fc.keyframe_points.foreach_get("co", co)
            frames.update(int(round(f)) for f in co[0::2])
    return sorted(frames)


def key_poses(arm, start: int, count: int) -> dict:
    """The animator's keys for Generate's *Use Keys*: {frame offset from ``start``: one-frame Motion} for every
    frame in [start, start + count) where the active action keys a bone, each pose read from the rig (any
    mapped rig) as it is evaluated there. Raises ReadbackError when there is none."""
    action = arm.animation_data.action if arm.animation_data else None
    if action is None:
        raise ReadbackError(f"Use Keys: '{arm.name}' has no active action holding keys")
    frames = [f for f in keyed_frames(action, slot_for(arm, action)) if start <= f < start + count]
    if not frames:
        raise ReadbackError(f"Use Keys: action '{action.name}' has no keys between frames {start} and "
                            f"{start + count - 1} (the clip's range from the scene start)")
    return {f - start: motion_from_action(arm, action, fps=action_rate(action, bpy.context.scene), frames=(f, f))
            for f in frames}
