"""The animator's own keys, held exactly (issue 16), bpy-free.

``generate(prompt, frames, keys={frame: one-frame Motion})`` returns a motion that matches the prompt and
passes through every key:

1. **Latent optimisation.** The latent Generate would decode (or, with no prompt, the encoding of the keys
   slerped into a rough in-between) is optimised with Adam for a few dozen steps against the key error (every
   local rotation, the root position when ``key_root``) plus the text cosine, so the decoder itself bends the
   motion towards the keys and the rest of the clip follows naturally. A heading offset about Z, fixed from the
   first key, puts the canonical decoded motion where the keys stand.
2. **Exact correction.** What the decoder cannot reach is corrected per joint: the rotation taking the decoded
   pose onto the key (axis-angle) is spread with smoothstep weights that are exactly 1 at its key and 0 at the
   others, reach across to the neighbouring key when keys are close and fade out over ``radius`` frames when
   they are not. The same holds for the root position when it is keyed.

Why hand-written: no library does latent-space in-betweening for this decoder; the maths is a few lines of
torch and numpy on top of ``rotations.py``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..motion import rotations as R
from ..errors import InputError, InputTypeError
from ..motion.motion import Motion

RADIUS = 10  # frames over which a correction fades out where no other key is near
STEPS = 40
TEXT_WEIGHT = 0.1
LR = 0.1  # per latent component, relative to the latent's size (0.05 left 20° at 40 steps, 0.2 overshot)


def check_keys(keys: Mapping[int, Motion], frames: int) -> dict[int, Motion]:
    """Keys as {frame index: one-frame Motion}, sorted; raises InputError naming the bad one."""
    if not isinstance(keys, Mapping) or not keys:
        raise InputError("keys must be a non-empty mapping {frame index: one-frame Motion}")
    out = {}
    for frame, pose in keys.items():
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise InputTypeError(f"key frame {frame!r} is not an integer frame index")
        if not 0 <= int(frame) < frames:
            raise InputError(f"key at frame {frame} is outside the clip (frames 0-{frames - 1})")
        if not isinstance(pose, Motion) or len(pose) != 1:
            raise InputTypeError(f"the key at frame {frame} must be a Motion of one frame")
        if not (np.isfinite(pose.rotations).all() and np.isfinite(pose.translation).all()):
            raise InputError(f"the key at frame {frame} contains NaN or infinite values")
        out[int(frame)] = pose
    return dict(sorted(out.items()))


def _rz(theta: float) -> torch.Tensor:
    c, s = np.cos(theta), np.sin(theta)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float32)


def placement(decoded: Motion, keys: dict[int, Motion], key_root: bool) -> tuple[float, np.ndarray]:
    """(turn about Z, horizontal shift) putting ``decoded`` where its first key stands (the shift only when the
    root is keyed; else the motion starts where Generate starts it)."""

    first = next(iter(keys))
    turn = float(keys[first].heading()[0] - decoded[first:first + 1].heading()[0])
    shift = np.zeros(3)
    if key_root:
        moved = decoded.rotated_about_z(turn).translation[first]
        shift[:2] = keys[first].translation[0, :2] - moved[:2]
    return turn, shift


def optimise_latent(model, z0: torch.Tensor, keys: dict[int, Motion], frames: int, key_root: bool,
                    text_z: torch.Tensor | None, steps: int = STEPS, job=None) -> tuple[torch.Tensor, float, np.ndarray]:
    """(latent, turn, shift): ``z0`` moved towards the keys inside the decoder's window."""
    window = min(frames, model.frames)
    inside = {k: v for k, v in keys.items() if k < window}
    turn, shift = placement(model.decode(z0, window), keys, key_root)
    if not inside or steps <= 0:
        return z0, turn, shift
    frames_idx = torch.tensor(list(inside))
    key_mats = torch.stack([torch.from_numpy(np.asarray(v.matrices()[0])) for v in inside.values()]).float()
    key_root_pos = torch.tensor(np.stack([v.translation[0] for v in inside.values()]), dtype=torch.float32)
    rz, offset = _rz(turn), torch.tensor(shift, dtype=torch.float32)
    z = z0.detach().clone().float().reshape(1, -1).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=LR * float(z0.norm()) / np.sqrt(z0.numel()))
    for step in range(steps):
        with torch.enable_grad(), model._lock:
            feats = model._blender_frame(model.network.decode(z, window)[0])
            mats = R.rot6d_to_matrix(feats[frames_idx, :24])
            mats = torch.cat([(rz @ mats[:, :1]), mats[:, 1:]], dim=1)  # the turn acts on the root only
            loss = (mats - key_mats).pow(2).sum(dim=(-1, -2)).mean()
            if key_root:
                root = feats[frames_idx, 24, :3] @ rz.T + offset
                loss = loss + 10.0 * (root - key_root_pos).pow(2).sum(-1).mean()  # metres weigh like radians x3
            if text_z is not None:
                loss = loss + TEXT_WEIGHT * (1 - F.cosine_similarity(z, text_z.reshape(1, -1)).mean())
            z.grad = torch.autograd.grad(loss, z)[0]  # the latent's gradient only: the weights stay untouched
        opt.step()
        if job is not None:
            job.step(0.1 + 0.6 * (step + 1) / steps, "fitting the keys")
    return z.detach()[0], turn, shift


def _weights(frames: int, key_frames: list[int], radius: int) -> np.ndarray:
    """(frames, keys) smoothstep weights: 1 at a key's own frame, 0 at every other key's."""
    t = np.arange(frames, dtype=np.float64)
    w = np.zeros((frames, len(key_frames)))
    smooth = lambda x: np.where(x <= 0, 0.0, np.where(x >= 1, 1.0, x * x * (3 - 2 * x)))  # noqa: E731
    for i, k in enumerate(key_frames):
        before = key_frames[i - 1] if i > 0 else None
        after = key_frames[i + 1] if i + 1 < len(key_frames) else None
        reach_b = (k - before) if before is not None and k - before <= 2 * radius else radius
        reach_a = (after - k) if after is not None and after - k <= 2 * radius else radius
        left, right = t <= k, t > k
        w[left, i] = smooth(1 - (k - t[left]) / reach_b)
        w[right, i] = smooth(1 - (t[right] - k) / reach_a)
    return w


def enforce_keys(motion: Motion, keys: dict[int, Motion], key_root: bool, radius: int = RADIUS) -> Motion:
    """``motion`` corrected to pass exactly through ``keys`` (local rotations; the root position if
    ``key_root``) with corrections that fade out around them."""
    frames = list(keys)
    w = torch.from_numpy(_weights(len(motion), frames, radius)).float()  # (F, K)
    q = torch.from_numpy(motion.rotations)
    at = q[frames]  # (K, 24, 4)
    target = torch.from_numpy(np.stack([keys[k].rotations[0] for k in frames]))
    inv = at * torch.tensor([1.0, -1.0, -1.0, -1.0])
    corr = R.quaternion_to_axis_angle(R.quaternion_multiply(target, inv))  # (K, 24, 3): key = corr * decoded
    spread = torch.einsum("fk,kjc->fjc", w, corr)
    rotations = F.normalize(R.quaternion_multiply(R.axis_angle_to_quaternion(spread), q), dim=-1).numpy()
    translation = motion.translation.copy()
    if key_root:
        offsets = np.stack([keys[k].translation[0] - motion.translation[k] for k in frames])  # (K, 3)
        translation = translation + w.numpy() @ offsets
    return Motion(rotations.astype(np.float32), translation.astype(np.float32), motion.fps)


def in_between(keys: dict[int, Motion], frames: int, fps: float) -> Motion:
    """The keys slerped into a rough clip (held before the first and after the last): what pure in-betweening
    encodes as its starting latent."""
    ks = list(keys)
    rot = np.empty((frames, 24, 4), np.float32)
    trans = np.empty((frames, 3), np.float32)
    for t in range(frames):
        j = int(np.searchsorted(ks, t))
        a, b = ks[max(0, min(j - 1, len(ks) - 1))], ks[min(j, len(ks) - 1)]
        u = 0.0 if a == b else float(np.clip((t - a) / (b - a), 0.0, 1.0))
        qa, qb = torch.from_numpy(keys[a].rotations[0]), torch.from_numpy(keys[b].rotations[0])
        rot[t] = R.quaternion_slerp(qa, qb, torch.full((24, 1), u)).numpy()
        trans[t] = (1 - u) * keys[a].translation[0] + u * keys[b].translation[0]
    return Motion(rot, trans, fps)


def generate_with_keys(model, prompt: str | None, frames: int, keys: Mapping[int, Motion], *, seed: int | None,
                       variation: float, source: str, clean_feet: bool, key_root: bool, root: str,
                       steps: int = STEPS) -> Motion:
    """``MotionCLIP.generate`` with keys (see the module's docstring). ``prompt`` may be empty for pure
    in-betweening (then at least two keys)."""
    from ..motion import contact, timeline
    from .api import perturb

    keys = check_keys(keys, frames)
    if key_root and root != "full":
        raise InputError(f"root {root!r} would move the keyed root positions: use root='full' with key_root")
    text_z = model.text_latent([prompt])[0] if prompt else None
    if text_z is None:
        if len(keys) < 2:
            raise InputError("in-betweening without a prompt needs at least two keys")
        first, last = min(keys), max(keys)
        z0 = model.encode(in_between(keys, frames, model.fps)[first:last + 1])
    elif model.bank is not None and source != "text":
        z0 = model.bank.code(model.bank_pick(text_z, seed, prompt)).float()
    else:
        z0 = perturb(text_z, seed, variation) if seed is not None else text_z
    z, turn, shift = optimise_latent(model, z0, keys, frames, key_root, text_z, steps)
    motion = model._decode_any(z, frames).rotated_about_z(turn)
    motion.translation[:] += shift.astype(np.float32)
    if clean_feet:  # feet planted, but steps not reshaped: near the keys the animator's poses define them
        motion = contact.clean_feet(motion, contact.ContactOptions(min_clearance=0.0))
    return timeline.with_root(enforce_keys(motion, keys, key_root), root)
