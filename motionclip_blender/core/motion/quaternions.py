"""numpy quaternion helpers for the paths that must stay torch-free or run per key over thousands of frames
(the Blender bake and read-back, the retargeter's channels). Quaternions are (w, x, y, z); the batched torch
conversions for the model live in ``rotations``."""

from __future__ import annotations

import numpy as np


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) -> rotation matrices (..., 3, 3)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (w, x, y, z), numerically safe branch per item."""
    m = np.asarray(m, dtype=np.float64)
    t = np.stack([
        1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
        1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
    ], -1)
    best = t.argmax(-1)
    cands = np.stack([
        np.stack([t[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], t[..., 1], m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], t[..., 2], m[..., 2, 1] + m[..., 1, 2]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], t[..., 3]], -1),
    ], -2)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def sign_continuous(quats: np.ndarray) -> np.ndarray:
    """A copy of ``quats`` (F, ..., 4) whose keys never point away from the previous key, so fcurves
    interpolate the short way. Flips accumulate along time: the running product of the raw neighbour signs
    gives every key's final sign at once."""
    step = np.where((quats[1:] * quats[:-1]).sum(-1) < 0, -1.0, 1.0)
    out = np.array(quats, copy=True)
    out[1:] *= np.cumprod(step, axis=0)[..., None]
    return out
