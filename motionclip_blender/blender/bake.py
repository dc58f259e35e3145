"""Motion -> a new Blender Action on an SMPL armature, through the fast fcurve path.

Conversion. The core's local rotation ``q_j`` is expressed in world axes relative to the rest pose
(every joint's rest orientation is the identity), while a pose bone's ``rotation_quaternion`` is in the
bone's own rest frame. With ``R_j`` the bone's rest rotation (``bone.matrix_local``), Blender evaluates
``W_j = W_p · R_p⁻¹ R_j · B_j`` and we need ``W_j = G_j · R_j`` with ``G_j = G_p · q_j``; both hold for
``B_j = R_j⁻¹ · q_j · R_j``. The root location is ``R_root⁻¹ · (t − rest_head)`` for the same reason.

Keys are written with ``keyframe_points.add`` + ``foreach_set("co")`` on flat float32 numpy arrays
(a torch tensor there segfaults Blender), ~100× faster than ``keyframe_insert`` per key.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING

import bpy
import numpy as np

from ..core.motion.quaternions import mat_to_quat, quat_to_mat, sign_continuous
from ..core.motion.skeleton import JOINT_NAMES

if TYPE_CHECKING:  # Motion needs torch; the bake itself is numpy, so the add-on registers without torch
    from ..core.motion.motion import Motion

ACTION_PREFIX = "MC_"


def action_name(prompt: str, max_len: int = 48) -> str:
    """A readable action name from a prompt; Blender adds .001… on clashes, so nothing is overwritten."""
    words = re.sub(r"[^\w\s-]", "", prompt.strip().lower())
    words = re.sub(r"\s+", "_", words).strip("_") or "motion"
    return (ACTION_PREFIX + words)[:max_len]


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def rest_rotations(arm_obj) -> tuple[np.ndarray, np.ndarray]:
    """Per SMPL joint: bone rest rotation (24, 3, 3) and rest head (24, 3), armature space."""
    bones = arm_obj.data.bones
    rot = np.empty((len(JOINT_NAMES), 3, 3))
    head = np.empty((len(JOINT_NAMES), 3))
    for j, name in enumerate(JOINT_NAMES):
        ml = bones[name].matrix_local
        rot[j] = np.array(ml.to_3x3())
        head[j] = np.array(ml.translation)
    return rot, head


def motion_to_pose_channels(motion: Motion, rest_rot: np.ndarray, rest_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Motion -> bone-space pose quaternions (F, 24, 4) and root location (F, 3), float32.

    Quaternions are made sign-continuous over time per bone so fcurve interpolation between keys
    takes the short path."""
    q = quat_to_mat(motion.rotations.astype(np.float64))  # (F, 24, 3, 3)
    basis = np.swapaxes(rest_rot, -1, -2)[None] @ q @ rest_rot[None]  # R⁻¹ · q · R (R orthonormal)
    quats = sign_continuous(mat_to_quat(basis))
    loc = (motion.translation.astype(np.float64) - rest_head[0]) @ rest_rot[0]  # R⁻¹ · (t − head)
    return quats.astype(np.float32), loc.astype(np.float32)


def new_fcurve_container(action, arm_obj):
    """(slot, callable (data_path, index, group) -> FCurve) for a new slotted action (Blender 4.4+): one slot
    for the armature, one layer, one keyframe strip and its channelbag."""
    slot = action.slots.new(id_type='OBJECT', name=arm_obj.name)
    layer = action.layers.new("Layer")
    strip = layer.strips.new(type='KEYFRAME')
    bag = strip.channelbag(slot, ensure=True)
    groups = {}

    def new(path, index, group):
        fc = bag.fcurves.new(path, index=index)
        if group not in groups:
            groups[group] = bag.groups.new(group)
        fc.group = groups[group]
        return fc

    return slot, new


def write_fcurve(fc, frames: np.ndarray, values: np.ndarray) -> None:
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)  # flat float32: see module docstring
    fc.update()  # sorts keys and computes handles


def keep_current_action(arm_obj) -> None:
    """The armature's current action gets a fake user when nothing else uses it, so assigning another one never
    loses the user's work when the file is saved (Blender's own action selector stashes it for the same reason)."""
    ad = arm_obj.animation_data
    if ad is not None and ad.action is not None and ad.action.users <= 1:
        ad.action.use_fake_user = True


def begin_action(arm_obj, name: str, props: dict | None = None):
    """A new action carrying ``props`` as custom properties, its slot and a channel factory
    (see :func:`new_fcurve_container`); the armature's current action is kept (:func:`keep_current_action`)."""
    action = bpy.data.actions.new(name)
    for key, value in (props or {}).items():
        action[key] = value
    arm_obj.animation_data_create()
    keep_current_action(arm_obj)
    slot, new_fcurve = new_fcurve_container(action, arm_obj)
    return action, slot, new_fcurve


def assign_action(arm_obj, action, slot) -> None:
    ad = arm_obj.animation_data or arm_obj.animation_data_create()
    ad.action = action
    if slot is not None:
        ad.action_slot = slot


def bake_motion(arm_obj, motion: Motion, name: str, *, start_frame: int = 1, target_fps: float | None = None,
                props: dict | None = None):
    """Write ``motion`` as a new Action on ``arm_obj`` and assign it; returns the action.

    The motion is resampled to ``target_fps`` (the scene's) first, keys land on integer frames from
    ``start_frame``. A previously assigned action gets a fake user so switching to the new one never
    loses the user's work when the file is saved."""
    if target_fps is not None:
        motion = motion.at_fps(target_fps)
    rest_rot, rest_head = rest_rotations(arm_obj)
    quats, loc = motion_to_pose_channels(motion, rest_rot, rest_head)
    frames = np.arange(len(motion), dtype=np.float32) + start_frame

    action, slot, new_fcurve = begin_action(arm_obj, name, props)

    root = JOINT_NAMES[0]
    for i in range(3):
        write_fcurve(new_fcurve(f'pose.bones["{root}"].location', i, root), frames, loc[:, i])
    for j, bname in enumerate(JOINT_NAMES):
        path = f'pose.bones["{bname}"].rotation_quaternion'
        for i in range(4):
            write_fcurve(new_fcurve(path, i, bname), frames, quats[:, j, i])
    for pb in arm_obj.pose.bones:
        pb.rotation_mode = 'QUATERNION'
    assign_action(arm_obj, action, slot)
    return action


def rotation_modes(arm_obj) -> dict[str, str]:
    """Every pose bone's rotation mode, by bone name."""
    return {pb.name: pb.rotation_mode for pb in arm_obj.pose.bones}


@contextmanager
def restoring_rotation_modes(arm_obj):
    """Bakes switch the keyed bones to QUATERNION (their keys are quaternions). If the block raises, every pose
    bone gets back the rotation mode it had before, so a failed bake leaves the rig as it was; on success the
    new modes stay (see ``mode_note``). Yields the recorded modes."""
    modes = rotation_modes(arm_obj)
    try:
        yield modes
    except BaseException:
        for name, mode in modes.items():
            pb = arm_obj.pose.bones.get(name)
            if pb is not None and pb.rotation_mode != mode:
                pb.rotation_mode = mode
        raise


@contextmanager
def rollback_on_failure(arm_obj):
    """If the block raises, the file is as it was before it (the one rollback of every bake and latent operation):
    actions it created are removed, every action gets back its fake-user flag (``begin_action`` sets one), the
    armature its action, slot and NLA tracks (or no animation data at all, if it had none), every bone its
    rotation mode. Yields the recorded rotation modes."""
    ad = arm_obj.animation_data
    had_ad = ad is not None
    action, slot = (ad.action, ad.action_slot) if had_ad else (None, None)
    n_tracks = len(ad.nla_tracks) if had_ad else 0
    # by session_uid, not name: a linked action and a local one can share a name
    fake_users = {a.session_uid: a.use_fake_user for a in bpy.data.actions}
    try:
        with restoring_rotation_modes(arm_obj) as modes:
            yield modes
    except BaseException:
        for act in [a for a in bpy.data.actions if a.session_uid not in fake_users]:
            bpy.data.actions.remove(act)
        ad = arm_obj.animation_data
        if ad is not None and not had_ad:
            arm_obj.animation_data_clear()
        elif ad is not None:
            while len(ad.nla_tracks) > n_tracks:
                ad.nla_tracks.remove(ad.nla_tracks[-1])
            ad.action = action
            if action is not None and slot is not None:
                ad.action_slot = slot
        for act in bpy.data.actions:
            if act.library is None:  # a linked action's flag is not ours to set (and cannot change)
                act.use_fake_user = fake_users[act.session_uid]
        raise


def mode_note(arm_obj, before: dict[str, str]) -> str:
    """For an operator's INFO report: which bones a successful bake switched to QUATERNION ("" if none)."""
    changed = [n for n, m in before.items() if m != 'QUATERNION' and n in arm_obj.pose.bones
               and arm_obj.pose.bones[n].rotation_mode == 'QUATERNION']
    if not changed:
        return ""
    shown = ", ".join(changed[:3]) + (" …" if len(changed) > 3 else "")
    return (f"{len(changed)} bones switched to Quaternion rotation, as the keys are quaternions "
            f"({shown}; they were {before[changed[0]]})")


def action_fcurves(action):
    """Every F-curve of a (slotted) action."""
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]


def make_cyclic(action) -> None:
    """Play ``action`` endlessly: a Cycles modifier on every F-curve, location channels repeating with their
    offset (so root travel carries on cycle after cycle), rotations repeating as they are. The action's last
    key must be the next cycle's first (``timeline.closed_loop``)."""
    for fc in action_fcurves(action):
        mod = fc.modifiers.new('CYCLES')
        offset = fc.data_path.endswith(".location")
        mod.mode_before = mod.mode_after = 'REPEAT_OFFSET' if offset else 'REPEAT'
    first, last = action.frame_range
    action.use_frame_range = True
    action.frame_start, action.frame_end = first, last
    action.use_cyclic = True


def set_scene_range(scene, start_frame: int, n_frames: int) -> None:
    scene.frame_start = start_frame
    scene.frame_end = start_frame + n_frames - 1


def finish_action(scene, action, info: dict, set_frame_range: bool) -> None:
    """After a bake: loops get their Cycles modifiers, and the scene range fits the clip (for a loop, one
    cycle: its closing key is the next cycle's first frame, so playback wraps without a repeated frame)."""
    if info.get("loop"):
        make_cyclic(action)
    if set_frame_range:
        first, last = action.frame_range
        set_scene_range(scene, int(round(first)), int(round(last - first)) + (0 if info.get("loop") else 1))
