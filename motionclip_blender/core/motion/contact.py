"""Foot contact clean-up: planted feet that do not slide, nothing under the floor.

1. Ground: the clip is shifted so its feet stand on z = 0 (the low percentile of the lowest foot joint).
2. Contacts: a foot is down when its height above its resting height is small and it moves slowly, with
   hysteresis (it takes a larger height or speed to lift it again) and a minimum length.
3. Pins: during each contact the heel, then the toe, is held at one horizontal position (where it moved
   least), blended in and out over a few frames; a foot is never held more than ``max_pin_offset`` from where
   it was (a gliding body drags it along instead of stretching the leg).
4. Legs: analytic two-bone IK (hip, knee, ankle) reaches each pin; the knee bends in its own plane, so its
   direction comes from the original knee; the foot keeps its world orientation. Where a pin is out of the
   leg's reach the pelvis is lowered just enough, smoothly.
5. Swings: in a step (the foot travels between two contacts) a foot lower than the swing's envelope (zero at
   both contacts, ``min_clearance`` above resting height at mid-swing) is raised to it, through the same leg IK.
   Real CMU walks clear 7.7 cm at their 10th percentile (median 10.5 cm); the model's swings are lower (median 6.3 cm, a tenth under 3.1 cm), and a foot scraping the floor reads as sliding.
6. Floor: any frame with a joint under z = 0 is lifted until none is.

Frames with no foot in contact, no pin blending in and no low step are left as they were (up to the one
grounding shift); only leg joints ever move relative to the pelvis.
Works on the SMPL skeleton in the project's convention (Z up); no bpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import rotations as R
from .kinematics import forward_kinematics
from .motion import Motion
from .skeleton import JOINT_INDEX, REST_OFFSETS, rest_joint_positions

_CATCH_UP = 0.02  # m per frame
LEGS = {side: tuple(JOINT_INDEX[f"{side}_{j}"] for j in ("hip", "knee", "ankle", "foot")) for side in ("left", "right")}


@dataclass(frozen=True)
class ContactOptions:
    height_on: float = 0.03  # m above its resting height: a foot this low (and slow) touches down
    height_off: float = 0.06  # ... and lifts off above this
    speed_on: float = 1.0  # m/s: a foot slower than this may touch down
    speed_off: float = 1.6  # ... and a faster one lifts off
    min_frames: int = 3  # shorter contacts are noise
    blend_frames: int = 4  # pins fade in and out over this many frames
    ground_percentile: float = 5.0
    max_pelvis_drop: float = 0.05  # m: the pelvis is never lowered more than this to reach a pin
    # m: a pin never holds a foot further than this from where it was. The model's bodies glide during a
    # stance; 0.12 let those feet slide at 0.58 m/s on the card's measure, 0.3 holds them (0.32 m/s, real
    # CMU walks 0.22), the leg trailing instead
    max_pin_offset: float = 0.3
    min_clearance: float = 0.10  # m: mid-swing height of a step's foot above resting (0: swings untouched)
    min_step: float = 0.15  # m: the foot travels at least this far between the contacts to count as a step
    # A slow foot this low (m above resting) while the other foot swings is a stance the model left floating:
    # nothing else carries the body, so it is planted on the floor like any contact. v0.5's fast walks float
    # one foot 4-8 cm through every stance. A foot held up while the other stands (balancing, a kick's chamber)
    # or both feet rising together (a jump) is not one. 0 turns this off.
    float_height: float = 0.10
    float_speed: float = 0.5  # m/s (3D): slower than this counts as still


def _rest_foot_heights() -> dict[int, float]:
    """Height of each foot joint above the sole in the rest pose (the lowest rest joint is the sole)."""
    pos = rest_joint_positions()
    sole = pos[:, 2].min()
    return {j: float(pos[j, 2] - sole) for side in LEGS.values() for j in side[2:]}


REST_FOOT_HEIGHT = _rest_foot_heights()


def _fk(motion: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> positions (F, 24, 3), world (F, 24, 3, 3) and local (F, 24, 3, 3) rotations, float64."""
    local = motion.matrices().double()
    pos, world = forward_kinematics(local, torch.from_numpy(motion.translation).double(),
                                    torch.tensor(REST_OFFSETS, dtype=torch.float64))
    return pos.numpy(), world.numpy(), local.numpy()


def foot_heights(pos: np.ndarray, side: str) -> np.ndarray:
    """(F,) how far the foot is above resting on the floor: the lower of heel (ankle) and toe lift."""
    _, _, ankle, toe = LEGS[side]
    return np.minimum(pos[:, ankle, 2] - REST_FOOT_HEIGHT[ankle], pos[:, toe, 2] - REST_FOOT_HEIGHT[toe])


def foot_speeds(pos: np.ndarray, side: str, fps: float, vertical: bool = False) -> np.ndarray:
    """(F,) horizontal speed (with ``vertical``, 3D) of the slower of heel and toe (a rolling foot keeps one of
    them still)."""
    _, _, ankle, toe = LEGS[side]
    v = np.linalg.norm(np.diff(pos[:, [ankle, toe], :3 if vertical else 2], axis=0), axis=-1).min(axis=-1) * fps
    return np.concatenate([v[:1], v]) if len(v) else np.zeros(len(pos))


def detect_contacts(pos: np.ndarray, fps: float, options: ContactOptions = ContactOptions()) -> dict[str, np.ndarray]:
    """side -> (F,) bool: the foot is planted."""
    out = {}
    for side in LEGS:
        h, v = foot_heights(pos, side), foot_speeds(pos, side, fps)
        down, state = np.zeros(len(pos), bool), False
        for i in range(len(pos)):
            if state:
                state = h[i] <= options.height_off and v[i] <= options.speed_off
            else:
                state = h[i] <= options.height_on and v[i] <= options.speed_on
            down[i] = state
        out[side] = _drop_short(down, options.min_frames)
    return out


def floating_stances(pos: np.ndarray, fps: float, down: dict[str, np.ndarray],
                     options: ContactOptions = ContactOptions()) -> dict[str, np.ndarray]:
    """side -> (F,) how far a floating stance (see ``ContactOptions.float_height``) sits above the floor in
    each of its frames, 0 elsewhere; such frames join the side's contacts in ``down`` (in place)."""
    out = {side: np.zeros(len(pos)) for side in LEGS}
    if options.float_height <= 0 or len(pos) < 2:
        return out
    for side, other in (("left", "right"), ("right", "left")):
        height = foot_heights(pos, side)
        speed = foot_speeds(pos, side, fps, vertical=True)
        still = (height <= options.float_height) & (speed <= options.float_speed) & ~down[side]
        other_speed = foot_speeds(pos, other, fps)
        for a, b in contact_segments(still):
            alone = ~down[other][a:b + 1]
            if b - a + 1 < options.min_frames or alone.sum() < options.min_frames:
                continue
            if other_speed[a:b + 1][alone].mean() < options.speed_on:
                continue  # the other foot is not swinging: both are up together
            out[side][a:b + 1] = max(float(height[a:b + 1].min()), 0.0)
            down[side][a:b + 1] = True
        if out[side].any():  # beside an ordinary contact (not lowered) the foot eases down instead of dropping
            out[side] = np.where(down[side], _moving_average(out[side], options.blend_frames), 0.0)
    return out


def contact_segments(down: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] frames of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], down.astype(np.int8), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _drop_short(down: np.ndarray, min_frames: int) -> np.ndarray:
    out = down.copy()
    for a, b in contact_segments(down):
        if b - a + 1 < min_frames:
            out[a:b + 1] = False
    return out


def _pins(pos: np.ndarray, side: str, down: np.ndarray, fps: float, blend: int,
          max_offset: float, sink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (F, 3) ankle targets and (F,) weights: 1 inside contacts, ramping to 0 over ``blend`` frames.

    A stance rolls from heel to toe, so the planted point is whichever of heel and toe moves slower: the heel
    is held where it moved least, then the toe where the held heel put it, the ankle following the original
    foot orientation around it. Pins are horizontal: heights stay as performed (the heel rises through the
    stance), the floor is enforced afterwards; only a floating stance is lowered, by its ``sink`` (F,)."""
    _, _, ankle, toe = LEGS[side]
    n = len(pos)
    offset = pos[:, toe] - pos[:, ankle]
    speed = np.linalg.norm(np.diff(pos[:, [ankle, toe], :2], axis=0), axis=-1) * fps
    speed = np.concatenate([speed[:1], speed]) if len(speed) else np.zeros((n, 2))
    on_toe = speed[:, 1] < speed[:, 0]
    if n >= 3:  # a one-frame flicker between heel and toe is noise
        on_toe[1:-1] = np.median(np.stack([on_toe[:-2], on_toe[1:-1], on_toe[2:]]), axis=0).astype(bool)
    target, weight = pos[:, ankle].copy(), np.zeros(n)
    for a, b in contact_segments(down):
        f = a
        while f <= b:
            end = f
            while end + 1 <= b and on_toe[end + 1] == on_toe[f]:
                end += 1
            part = slice(f, end + 1)
            if on_toe[f]:
                pin = (target[f - 1] + offset[f - 1] if f > a
                       else pos[f + int(np.argmin(speed[part, 1])), toe])[:2].copy()
                target[part, :2] = pin - offset[part, :2]
            else:
                pin = (target[f - 1] if f > a else pos[f + int(np.argmin(speed[part, 0])), ankle])[:2].copy()
                target[part, :2] = pin
            target[part, 2] -= sink[part]
            weight[part] = 1.0
            f = end + 1
        for src, step in ((a, -1), (b, 1)):  # fade in before and out after, toward the first / last pin
            # a foot held far from where the model put it catches up over more frames (at most _CATCH_UP m
            # a frame), so releasing a pin never snaps the foot
            gap = float(np.linalg.norm(target[src, :2] - pos[src, ankle, :2]))
            frames = int(np.clip(np.ceil(gap / _CATCH_UP), blend, 3 * blend))
            for k in range(1, frames + 1):
                g, w = src + step * k, 1.0 - k / (frames + 1)
                if 0 <= g < n and w > weight[g]:
                    weight[g] = w
                    target[g, :2] = target[src, :2]
                    target[g, 2] = pos[g, ankle, 2] - sink[src]
    ankles = pos[:, ankle]
    blended = ankles * (1 - weight[:, None]) + target * weight[:, None]
    # a body that glides on while its foot is "down" would drag a pinned leg out behind it: the foot
    # trails by at most max_offset and slides from there, rather than the leg stretching off the floor
    offset = blended[:, :2] - ankles[:, :2]
    length = np.linalg.norm(offset, axis=-1, keepdims=True)
    blended[:, :2] = ankles[:, :2] + offset * np.minimum(1.0, max_offset / np.maximum(length, 1e-12))
    return blended, weight


def _swing_lift(pos: np.ndarray, side: str, down: np.ndarray, clearance: float, min_step: float) -> np.ndarray:
    """(F,) how far to raise the ankle: in each step between two contacts, wherever the foot is under the
    swing's envelope (zero at both contacts, ``clearance`` at mid-swing), up to the envelope. A clip that
    starts or ends mid-step gets the part of a typical step (this clip's median) that it shows."""
    _, _, ankle, _ = LEGS[side]
    n = len(pos)
    lift = np.zeros(n)
    if clearance <= 0:
        return lift
    height = foot_heights(pos, side)
    swings = [(a, b) for a, b in contact_segments(~down) if not (a == 0 and b == n - 1)]
    inner = [b - a + 1 for a, b in swings if a > 0 and b < n - 1]
    typical = int(np.median(inner)) if inner else 0
    for a, b in swings:
        length = b - a + 1
        full = length if 0 < a and b < n - 1 else max(length, typical or 2 * length)
        first = a if a > 0 else b - full + 1  # a virtual lift-off before the clip starts
        if length < 3 or np.linalg.norm(pos[b, ankle, :2] - pos[a, ankle, :2]) < min_step * length / full:
            continue  # a shuffle or a weight shift, not a step
        t = (np.arange(a, b + 1) - first + 1) / (full + 1)
        # the foot leaves and meets the floor fast, as real steps do: the floor under the swing is a
        # square-rooted half sine (zero at both contacts, ``clearance`` at mid-swing), not a low flat arc
        envelope = clearance * np.sqrt(np.sin(np.pi * np.clip(t, 0.0, 1.0)))
        lift[a:b + 1] = np.clip(envelope - height[a:b + 1], 0.0, None)
    return lift


def _pelvis_drop(pos: np.ndarray, targets: dict[str, np.ndarray], weights: dict[str, np.ndarray],
                 blend: int, limit: float) -> np.ndarray:
    """(F,) how far to lower the pelvis so every active pin is within its leg's reach (smoothed)."""
    drop = np.zeros(len(pos))
    for side, (hip, knee, ankle, _) in LEGS.items():
        reach = (np.linalg.norm(pos[:, knee] - pos[:, hip], axis=-1)
                 + np.linalg.norm(pos[:, ankle] - pos[:, knee], axis=-1)) * 0.995
        d = targets[side] - pos[:, hip]
        radial2 = (d[:, :2] ** 2).sum(-1)
        vertical = np.sqrt(np.clip(reach ** 2 - radial2, 0, None))
        need = np.where(weights[side] > 0, np.clip(-vertical - d[:, 2], 0, limit), 0.0)
        drop = np.maximum(drop, need)
    if drop.any():  # spread each dip over the blend window so the pelvis eases down and up
        k = 2 * blend + 1
        padded = np.pad(drop, blend, mode="edge")
        widened = np.array([padded[i:i + k].max() for i in range(len(drop))])
        drop = _moving_average(widened, blend)
    return drop


def _moving_average(x: np.ndarray, half_width: int) -> np.ndarray:
    """(F,) mean over the ``2 half_width + 1`` frames around each frame, the ends held."""
    k = 2 * half_width + 1
    return np.convolve(np.pad(x, half_width, mode="edge"), np.ones(k) / k, mode="valid")


def _rodrigues(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    return R.axis_angle_to_matrix(torch.from_numpy(axis * angle[:, None])).numpy()


def _solve_leg(pos, world, local, side: str, target: np.ndarray, frames: np.ndarray) -> None:
    """Two-bone IK in place on ``local`` for ``frames``: the ankle reaches ``target``, the foot keeps its
    world orientation."""
    hip, knee, ankle, _ = LEGS[side]
    f = frames
    a, b, c, t = pos[f, hip], pos[f, knee], pos[f, ankle], target[f]
    l1, l2 = np.linalg.norm(b - a, axis=-1), np.linalg.norm(c - b, axis=-1)
    lat = np.clip(np.linalg.norm(t - a, axis=-1), np.abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    u, w = (a - b) / l1[:, None], (c - b) / l2[:, None]
    knee0 = np.arccos(np.clip((u * w).sum(-1), -1, 1))
    knee1 = np.arccos(np.clip((l1 ** 2 + l2 ** 2 - lat ** 2) / (2 * l1 * l2), -1, 1))
    # hinge: the plane of thigh and shin; a straight leg bends about its knee's -X (the shin goes back)
    n = np.cross(u, w)
    norm = np.linalg.norm(n, axis=-1)
    fallback = -world[f, knee][:, :, 0]
    n = np.where(norm[:, None] > 1e-6, n / np.maximum(norm, 1e-12)[:, None], fallback)
    bend = _rodrigues(n, knee1 - knee0)
    c_new = b + np.einsum("fij,fj->fi", bend, c - b)
    swing = R.rotation_between(torch.from_numpy(c_new - a), torch.from_numpy(t - a)).numpy()
    hip_world = swing @ world[f, hip]
    knee_world = swing @ bend @ world[f, knee]
    local[f, hip] = np.swapaxes(world[f, 0], -1, -2) @ hip_world
    local[f, knee] = np.swapaxes(hip_world, -1, -2) @ knee_world
    local[f, ankle] = np.swapaxes(knee_world, -1, -2) @ world[f, ankle]


def clean_feet(motion: Motion, options: ContactOptions = ContactOptions()) -> Motion:
    """The clip with planted contacts and no joint under the floor (see the module docstring)."""
    if len(motion) < 2:
        return ground_clip(motion, options.ground_percentile)
    motion = ground_clip(motion, options.ground_percentile)
    pos, world, local = _fk(motion)
    contacts = detect_contacts(pos, motion.fps, options)
    sinks = floating_stances(pos, motion.fps, contacts, options)
    pins = {s: _pins(pos, s, contacts[s], motion.fps, options.blend_frames, options.max_pin_offset, sinks[s])
            for s in LEGS}
    targets = {s: p[0] for s, p in pins.items()}
    weights = {s: p[1] for s, p in pins.items()}
    for side in LEGS:  # low steps: the ankle target rises where no pin holds the foot
        lift = _swing_lift(pos, side, contacts[side], options.min_clearance, options.min_step)
        lift *= 1.0 - weights[side]
        targets[side][:, 2] += lift
        weights[side] = np.where(lift > 0, np.maximum(weights[side], 1e-3), weights[side])
    translation = motion.translation.astype(np.float64)
    drop = _pelvis_drop(pos, targets, weights, options.blend_frames, options.max_pelvis_drop)
    if drop.any():
        translation[:, 2] -= drop
        pos, world, _ = _fk(Motion(motion.rotations, translation, motion.fps))
    for side in LEGS:
        active = np.flatnonzero(weights[side] > 0)
        if len(active):
            _solve_leg(pos, world, local, side, targets[side], active)
    cleaned = Motion.from_matrices(local, translation, motion.fps)
    return above_floor(cleaned)


def ground_clip(motion: Motion, percentile: float = 5.0) -> Motion:
    """Shift the clip vertically so the low ``percentile`` of its lowest foot height is at the floor."""
    pos = _fk(motion)[0]
    lowest = np.minimum(foot_heights(pos, "left"), foot_heights(pos, "right"))
    trans = motion.translation.copy()
    trans[:, 2] -= float(np.percentile(lowest, percentile))
    return Motion(motion.rotations, trans, motion.fps)


def above_floor(motion: Motion) -> Motion:
    """Lift the frames in which some joint is under z = 0 until none is."""
    pos = _fk(motion)[0]
    sink = np.clip(-pos[:, :, 2].min(axis=1), 0, None)
    if not sink.any():
        return motion
    trans = motion.translation.copy()
    trans[:, 2] += sink.astype(np.float32) + 1e-5
    return Motion(motion.rotations, trans, motion.fps)
