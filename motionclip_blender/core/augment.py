"""Skeleton-convention augmentation: the same performance as another mocap conversion would record it.

Two conversions of one CMU trial (cgspeed's BVH and Hahne's Daz BVH, or the ASF original and an iClone
export) import onto SMPL with near-constant per-joint rotation offsets: the joints' local frames differ
because each conversion placed its rest pose differently (measured on 09_02: pelvis 21 degrees of pitch,
hips -31, spine 12-18, collars 38-44; the offsets vary by under 6 degrees over the clip). A model trained on
one convention per action learns the convention as the action (all of CMU's jumps here come from Hahne's
files, most walks from cgspeed's). Changing a joint's rest frame by O_j rotates that joint's own bone and
nothing else: local'_j = O_parent(j)^T . local_j . O_j keeps every child's world orientation, so only the
bone's direction (and the positions below it) move, exactly the kind of difference between conversions.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import rotations as R
from .motion import Motion
from .skeleton import NUM_JOINTS, PARENTS


def rest_frame_offsets(sigma_deg: float, rng: np.random.Generator) -> torch.Tensor:
    """(24, 3, 3) random rotations: uniform axis, angle ~ |N(0, sigma)| capped at 2.5 sigma."""
    axes = rng.normal(size=(NUM_JOINTS, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.minimum(np.abs(rng.normal(0.0, sigma_deg, size=(NUM_JOINTS, 1))), 2.5 * sigma_deg)
    return R.axis_angle_to_matrix(torch.from_numpy(axes * np.radians(angles)).float())


def with_rest_offsets(motion: Motion, offsets: torch.Tensor) -> Motion:
    """``motion`` with joint j's rest frame turned by ``offsets[j]`` (constant over the clip)."""
    if offsets.shape != (NUM_JOINTS, 3, 3):
        raise ValueError(f"offsets must be ({NUM_JOINTS}, 3, 3), got {tuple(offsets.shape)}")
    local = motion.matrices()
    parent_t = torch.stack([offsets[p].T if p >= 0 else torch.eye(3) for p in PARENTS])
    changed = parent_t[None] @ local @ offsets[None]
    return Motion.from_matrices(changed, motion.translation.copy(), motion.fps)


def jitter_rest_frames(motion: Motion, sigma_deg: float, rng: np.random.Generator) -> Motion:
    if sigma_deg <= 0 or not math.isfinite(sigma_deg):
        return motion
    return with_rest_offsets(motion, rest_frame_offsets(sigma_deg, rng))
