"""Clips of any length, seamless loops and root options, built from model-length windows (no bpy).

The decoder is trained on windows of ``model.frames`` (2 s); its positional encodings mean nothing past
them, so a 10-s clip decoded in one go falls apart. Instead:

- ``stitch``: windows that continue each other (the latent bank's successive windows of one performance)
  are aligned - each next window's start put where its predecessor's matching frame stands, facing the same
  way - and cross-faded over their overlap.
- ``extend``: past the last window, a periodic motion (a detected cycle) repeats its last cycle with the
  root carried on; a one-off motion settles into a hold of its last pose with the root easing to a stop.
- ``make_loop``: the clip cut where it best meets its own start (pose and velocity), the remaining seam
  spread over the clip as a linear drift correction, so the last frame flows into the first; the frames past
  the cut then ease into the loop's first ones, so the speed carries across the seam too.
- ``with_root``: full root motion, forward only (no sideways drift), or in place.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from . import rotations as R
from .motion import Motion
from .skeleton import JOINT_INDEX

ROOT_MODES = ("full", "forward", "in_place")
DRIFT_WEIGHT = 25.0  # make_loop: a loop's per-frame pose drift against its change of speed at the seam
LEFT_ANKLE, RIGHT_ANKLE = JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]


def _posed(motion: Motion) -> np.ndarray:
    """(F, 24*3) joint positions relative to the pelvis in each frame's own heading: the pose, not the path."""
    pos = motion.joint_positions().astype(np.float64)
    rel = pos - pos[:, :1]
    a = -motion.heading()
    c, s = np.cos(a)[:, None], np.sin(a)[:, None]
    x, y = rel[..., 0], rel[..., 1]
    rel = np.stack([c * x - s * y, s * x + c * y, rel[..., 2]], axis=-1)
    return rel.reshape(len(motion), -1)


def _place(motion: Motion, frame: int, at: Motion) -> Motion:
    """``motion`` turned and moved (about Z, horizontally) so its ``frame`` stands where ``at`` (one frame) does."""
    turn = float(at.heading()[0] - motion[frame:frame + 1].heading()[0])
    out = motion.rotated_about_z(turn)
    out.translation[:, :2] += at.translation[0, :2] - out.translation[frame, :2]
    return out


def crossfade(a: Motion, b: Motion, overlap: int) -> Motion:
    """``a`` then ``b`` whose first ``overlap`` frames coincide in time with ``a``'s last ones (already
    aligned), blended with a smoothstep: slerped rotations, interpolated root."""
    overlap = min(overlap, len(a), len(b))
    if overlap == 0:
        return Motion(np.concatenate([a.rotations, b.rotations]), np.concatenate([a.translation, b.translation]), a.fps)
    t = (np.arange(overlap) + 1) / (overlap + 1)
    w = (t * t * (3 - 2 * t)).astype(np.float32)
    q = R.quaternion_slerp(torch.from_numpy(a.rotations[-overlap:]), torch.from_numpy(b.rotations[:overlap]),
                           torch.from_numpy(w)[:, None]).numpy()
    tr = a.translation[-overlap:] * (1 - w[:, None]) + b.translation[:overlap] * w[:, None]
    return Motion(np.concatenate([a.rotations[:-overlap], q, b.rotations[overlap:]]),
                  np.concatenate([a.translation[:-overlap], tr, b.translation[overlap:]]), a.fps)


def stitch(windows: list[Motion], stride: int) -> Motion:
    """Windows that each start ``stride`` frames after the previous one in the same performance -> one clip."""
    out = windows[0]
    for w in windows[1:]:
        start = len(out) - len(windows[0]) + stride  # where this window's first frame falls in `out`
        placed = _place(w, 0, out[start:start + 1])
        overlap = len(out) - start
        # fade over the middle of the overlap: away from both windows' edges, where decoding is least sure
        fade = max(1, overlap // 2)
        keep = start + (overlap - fade) // 2
        out = crossfade(out[:keep + fade], placed[keep - start:], fade)
    return out


def detect_period(motion: Motion, shortest: int = 12, tolerance: float = 0.45) -> int | None:
    """The cycle length in frames of a periodic motion (pose repeats, path ignored), or None."""
    x = _posed(motion)
    n = len(x)
    spread = np.linalg.norm(x - x.mean(0), axis=-1).mean()
    if spread < 1e-4 or n < 2 * shortest:
        return None
    best, best_score = None, np.inf
    for p in range(shortest, n - max(6, n // 6) + 1):
        score = np.linalg.norm(x[p:] - x[:-p], axis=-1).mean() / spread
        if score < best_score:
            best, best_score = p, score
    return best if best_score < tolerance else None


def gait_cycle(motion: Motion, shortest: int = 16, longest: int = 50) -> tuple[int, int] | None:
    """(end, period) of a gait whose whole pose never repeats closely enough for ``detect_period`` (a decoded
    walk scores ~0.8 there: arms and torso drift from stride to stride) but whose legs do: the left-minus-right
    ankle offset (in the body's own frame) must correlate >= 0.5 with itself a stride later and be reversed half
    a stride later (the feet alternate; a jump's move together). Footfall detection was tried first and missed
    strides of decoded walks whose feet lift only 5 cm. ``end`` is where that stride best meets the one before."""
    x = _posed(motion).reshape(len(motion), -1, 3)
    sep = x[:, LEFT_ANKLE] - x[:, RIGHT_ANKLE]
    sep = sep - sep.mean(0)
    n = len(sep)
    if np.linalg.norm(sep, axis=-1).mean() < 0.05 or n < 2 * shortest:
        return None

    def corr(lag: int) -> float:
        a, b = sep[lag:], sep[:n - lag]
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))

    lags = range(shortest, min(longest, n - shortest) + 1)
    if not lags:
        return None
    period = max(lags, key=corr)
    if corr(period) < 0.5 or corr(period // 2) > -0.2:
        return None
    seam = lambda end: float(np.linalg.norm(x[end - 1] - x[end - 1 - period]))  # noqa: E731
    return min(range(max(period + 2, n - period // 2), n + 1), key=seam), period


def find_cycle(motion: Motion) -> tuple[int, int] | None:
    """(end, period): the motion's last whole cycle is frames end-period-1 .. end-1; None for a one-off."""
    period = detect_period(motion)
    if period:
        return len(motion), period
    return gait_cycle(motion)


def extend(motion: Motion, frames: int, period: int | None = None) -> Motion:
    """``motion`` continued to ``frames`` frames: cycles repeat (root carried on), one-offs settle and hold.
    A gait found by its legs alone (``gait_cycle``) continues from its best-closing stride."""
    if frames <= len(motion):
        return motion[:frames]
    if period is None:
        cycle = find_cycle(motion)
        if cycle:
            motion, period = motion[:cycle[0]], cycle[1]
    if not period or period + 1 >= len(motion):
        return _hold(motion, frames)
    n = len(motion)
    # one cycle's rigid move: frame n-P-1 -> frame n-1 (turn about Z, then shift)
    step = _RigidStep(motion[n - period - 1:n - period], motion[n - 1:n])
    closed = _seamless(motion[n - period - 1:])  # frames n-P-1 .. n-2, closed on itself in pose
    # the cycle that follows frame n-1 of `motion` once moved by `step`: frames n-P .. n-1, seam-free
    cycle = Motion(np.concatenate([closed.rotations[1:], closed.rotations[:1]]),
                   np.concatenate([closed.translation[1:], step(closed[:1]).translation]), motion.fps)
    out = motion
    while len(out) < frames:
        cycle = step(cycle)
        out = Motion(np.concatenate([out.rotations, cycle.rotations]),
                     np.concatenate([out.translation, cycle.translation]), out.fps)
    return out[:frames]


class _RigidStep:
    """The horizontal rigid motion (turn about Z, then shift) taking frame ``a`` onto frame ``b``."""

    def __init__(self, a: Motion, b: Motion):
        turn = float(b.heading()[0] - a.heading()[0])
        self.turn = (turn + np.pi) % (2 * np.pi) - np.pi
        self.a, self.b = a.translation[0, :2].copy(), b.translation[0, :2].copy()

    def __call__(self, motion: Motion) -> Motion:
        out = Motion(motion.rotations, motion.translation.copy(), motion.fps)
        out.translation[:, :2] -= self.a
        out = out.rotated_about_z(self.turn)
        out.translation[:, :2] += self.b
        return out


def _onto_first(clip: Motion, frame: int) -> torch.Tensor:
    """(24, 4) per joint, the rotation q0 * q_frame^-1 that maps ``frame``'s local rotations onto frame 0's."""
    q0, qf = torch.from_numpy(clip.rotations[0]), torch.from_numpy(clip.rotations[frame])
    return R.quaternion_multiply(q0, qf * torch.tensor([1.0, -1, -1, -1]))


def _seamless(clip: Motion) -> Motion:
    """``clip`` of a cycle plus one frame (its last ~ its first) -> the cycle's frames with the mismatch spread
    linearly over them, so that repeating it has no seam (local rotations and height; the path is kept)."""
    n = len(clip) - 1
    t = torch.arange(n, dtype=torch.float32)[:, None] / n
    delta = _onto_first(clip, n)
    identity = torch.zeros_like(delta)
    identity[:, 0] = 1
    fix = R.quaternion_slerp(identity.expand(n, -1, -1), delta.expand(n, -1, -1), t[:, :, None].expand(n, 24, 1))
    q = R.quaternion_multiply(fix, torch.from_numpy(clip.rotations[:n])).numpy()
    trans = clip.translation[:n].copy()
    trans[:, 2] += (clip.translation[0, 2] - clip.translation[n, 2]) * t[:, 0].numpy()
    return Motion(q, trans, clip.fps)


def _ease_out_of_seam(looped: Motion, clip: Motion, cut: int, blend: int) -> Motion:
    """``looped`` (``_seamless(clip[:cut + 1])``) with its first ``blend`` frames starting as the clip's own
    continuation past ``cut`` (corrected as ``_seamless`` corrects the cut frame onto the first) and easing into
    the loop. Why: the linear correction closes the pose but not the speed - a dance cut while moving fast
    stopped dead at the seam (5.7 cm of pose per frame into it, 1.6 cm out)."""
    blend = min(blend, len(clip) - cut, len(looped))
    if blend < 1:
        return looped
    delta = _onto_first(clip, cut)
    after = R.quaternion_multiply(delta.expand(blend, -1, -1), torch.from_numpy(clip.rotations[cut:cut + blend]))
    t = (np.arange(blend) + 1) / (blend + 1)
    w = torch.from_numpy((t * t * (3 - 2 * t)).astype(np.float32))
    out = Motion(looped.rotations.copy(), looped.translation.copy(), looped.fps)
    out.rotations[:blend] = R.quaternion_slerp(after, torch.from_numpy(looped.rotations[:blend]),
                                               w[:, None, None].expand(blend, 24, 1)).numpy()
    height = clip.translation[cut:cut + blend, 2] + (clip.translation[0, 2] - clip.translation[cut, 2])
    out.translation[:blend, 2] = height * (1 - w.numpy()) + looped.translation[:blend, 2] * w.numpy()
    return out


def make_loop(motion: Motion, root: str = "full", shortest: int | None = None, blend: int = 10) -> Motion:
    """A seamless cycle from ``motion``: cut at the frame (in its second half) that best matches the first in
    pose and velocity, the seam spread over the clip, the first ``blend`` frames eased in from the clip's own
    frames past the cut (``_ease_out_of_seam``). ``root`` "in_place" also removes the travel, so the cycle
    loops on the spot; otherwise the travel per cycle stays (see :func:`cycle_offset`)."""
    n = len(motion)
    if n < 8:
        raise InputError(f"a loop needs at least 8 frames, got {n}")
    x = _posed(motion)
    v = np.diff(x, axis=0)
    shortest = shortest or max(4, n // 2)
    # cutting at k loops frames 0..k-1. Per frame: the correction spreads frame k's pose mismatch with frame 0
    # over k frames, and at the seam the speed changes from the clip's own step into frame k (v[k-1]) to the
    # step out of frame 0 (which the ease then spreads). The drift weighs more: it slides planted feet. Measured
    # on walk, run, salsa, ballet, boxing and arm circles at 60/90/120 frames: walks still cut at whole
    # strides; a 90-frame salsa was cut mid-figure, its seam 1.72x its median step, now 0.60x.
    cost = [DRIFT_WEIGHT * np.linalg.norm(x[k] - x[0]) / k + np.linalg.norm(v[k - 1] - v[0])
            for k in range(shortest, n)]
    cut = shortest + int(np.argmin(cost))
    looped = _ease_out_of_seam(_seamless(motion[:cut + 1]), motion, cut, blend)
    if root == "in_place":
        drift = (motion.translation[cut, :2] - motion.translation[0, :2]) * (np.arange(cut)[:, None] / cut)
        looped.translation[:, :2] -= drift.astype(np.float32)
    return with_root(looped, root) if root == "forward" else looped


def cycle_offset(loop: Motion) -> np.ndarray:
    """(3,) root travel per cycle of a loop from :func:`make_loop` (its next frame after the last, minus the
    first): the step between the last two frames carried one frame on. Zero height change by construction."""
    if len(loop) < 2:
        return np.zeros(3, np.float32)
    nxt = 2 * loop.translation[-1] - loop.translation[-2]
    out = nxt - loop.translation[0]
    out[2] = 0.0
    return out


def closed_loop(loop: Motion) -> Motion:
    """The loop with one more frame: its first again, moved by :func:`cycle_offset` - what a keyframed cycle
    needs, its last key being the next cycle's first (Blender's Cycles modifier repeats first..last key)."""
    end = Motion(loop.rotations[:1], loop.translation[:1] + cycle_offset(loop), loop.fps)
    return Motion(np.concatenate([loop.rotations, end.rotations]),
                  np.concatenate([loop.translation, end.translation]), loop.fps)


def _hold(motion: Motion, frames: int, ease: int = 15) -> Motion:
    """Hold the last pose; the root's last velocity eases to zero over ``ease`` frames."""
    extra = frames - len(motion)
    velocity = (motion.translation[-1] - motion.translation[-2]) if len(motion) > 1 else np.zeros(3, np.float32)
    velocity = velocity * np.array([1, 1, 0], np.float32)
    decay = np.clip(1 - (np.arange(extra) + 1) / ease, 0, None)
    path = motion.translation[-1] + np.cumsum(decay)[:, None] * velocity
    rot = np.repeat(motion.rotations[-1:], extra, axis=0)
    return Motion(np.concatenate([motion.rotations, rot]), np.concatenate([motion.translation, path]), motion.fps)


def with_root(motion: Motion, mode: str) -> Motion:
    """Root options: "full" as is, "forward" only along the first frame's facing, "in_place" no travel."""
    if mode not in ROOT_MODES:
        raise InputError(f"root must be one of {', '.join(ROOT_MODES)}, got {mode!r}")
    if mode == "full":
        return motion
    trans = motion.translation.copy()
    start = trans[0, :2].copy()
    if mode == "in_place":
        trans[:, :2] = start
    else:
        a = float(motion[0:1].heading()[0])
        forward = np.array([np.sin(a), -np.cos(a)], np.float32)  # facing -Y turned by a
        along = (trans[:, :2] - start) @ forward
        trans[:, :2] = start + along[:, None] * forward
    return Motion(motion.rotations, trans, motion.fps)
