"""Skeleton-convention augmentation: the same performance as another mocap conversion would record it.

Two conversions of one CMU trial (cgspeed's BVH and Hahne's Daz BVH, or the ASF original and an iClone
export) import onto SMPL with near-constant per-joint rotation offsets: the joints' local frames differ
because each conversion placed its rest pose differently (measured on 09_02: pelvis 21 degrees of pitch,
hips -31, spine 12-18, collars 38-44; the offsets vary by under 6 degrees over the clip). A model trained on
one convention per action learns the convention as the action (all of CMU's jumps here come from Hahne's
files, most walks from cgspeed's). Changing a joint's rest frame by O_j rotates that joint's own bone and
nothing else: local'_j = O_parent(j)^T . local_j . O_j keeps every child's world orientation, so only the
bone's direction (and the positions below it) move, exactly the kind of difference between conversions.

The largest offsets are twists: about a bone's own axis (iClone's ankles differ from the ASF original by
141 degrees, Hahne's hands by 41-64) or of a leaf joint (hands, head, toes). Joint positions cannot see them,
so no importer can recover them from the skeleton, and they are the cue by which an encoder tells a
conversion apart. A twist about the bone towards a joint's only child moves no joint at all; drawn large,
it teaches the encoder that such twists carry no meaning.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..motion import rotations as R
from ..motion.motion import Motion
from ..motion.skeleton import NUM_JOINTS, PARENTS, REST_OFFSETS

_CHILDREN = [[c for c, p in enumerate(PARENTS) if p == j] for j in range(NUM_JOINTS)]
# the axis a joint's twist turns about: the bone to its only child; leaves twist about any axis (None)
_TWIST_AXES = [REST_OFFSETS[kids[0]] / np.linalg.norm(REST_OFFSETS[kids[0]]) if len(kids) == 1 else None
               for kids in _CHILDREN]
_BRANCHING = [len(kids) > 1 for kids in _CHILDREN]  # pelvis, spine3: any twist moves a sibling bone


def _random_axes(rng: np.random.Generator, n: int) -> np.ndarray:
    axes = rng.normal(size=(n, 3))
    return axes / np.linalg.norm(axes, axis=1, keepdims=True)


def _half_normal(rng: np.random.Generator, sigma_deg: float, n: int) -> np.ndarray:
    """Angles in radians ~ |N(0, sigma)| capped at 2.5 sigma."""
    return np.radians(np.minimum(np.abs(rng.normal(0.0, sigma_deg, size=n)), 2.5 * sigma_deg))


def rest_frame_offsets(sigma_deg: float, rng: np.random.Generator, twist_sigma_deg: float = 0.0) -> torch.Tensor:
    """(24, 3, 3) random rest-frame changes: a swing about a random axis with angle ~ |N(0, sigma)| and,
    before it, a twist ~ |N(0, twist_sigma)| about the joint's bone (any axis for leaves; none for the
    branching pelvis and spine3), both capped at 2.5 sigma."""
    swing = R.axis_angle_to_matrix(torch.from_numpy(
        _random_axes(rng, NUM_JOINTS) * _half_normal(rng, sigma_deg, NUM_JOINTS)[:, None]).float())
    if twist_sigma_deg <= 0:
        return swing
    leaf_axes = _random_axes(rng, NUM_JOINTS)
    angles = _half_normal(rng, twist_sigma_deg, NUM_JOINTS) * rng.choice([-1.0, 1.0], size=NUM_JOINTS)
    axes = np.stack([leaf_axes[j] if a is None else a for j, a in enumerate(_TWIST_AXES)])
    angles[_BRANCHING] = 0.0
    twist = R.axis_angle_to_matrix(torch.from_numpy(axes * angles[:, None]).float())
    return swing @ twist


def with_rest_offsets(motion: Motion, offsets: torch.Tensor) -> Motion:
    """``motion`` with joint j's rest frame turned by ``offsets[j]`` (constant over the clip)."""
    if offsets.shape != (NUM_JOINTS, 3, 3):
        raise InputError(f"offsets must be ({NUM_JOINTS}, 3, 3), got {tuple(offsets.shape)}")
    local = motion.matrices()
    parent_t = torch.stack([offsets[p].T if p >= 0 else torch.eye(3) for p in PARENTS])
    changed = parent_t[None] @ local @ offsets[None]
    return Motion.from_matrices(changed, motion.translation.copy(), motion.fps)


def jitter_rest_frames(motion: Motion, sigma_deg: float, rng: np.random.Generator,
                       twist_sigma_deg: float = 0.0) -> Motion:
    if not (sigma_deg > 0 or twist_sigma_deg > 0) or not math.isfinite(sigma_deg + twist_sigma_deg):
        return motion
    return with_rest_offsets(motion, rest_frame_offsets(sigma_deg, rng, twist_sigma_deg))


def curve_path(motion: Motion, yaw_rate: float) -> Motion:
    """The motion turned progressively by ``yaw_rate`` (rad/s, counter-clockwise seen from above; nothing at the
    first frame) with its path bent to match: a straight walk becomes an arc, a spin spins faster or slower.
    Every frame keeps its pose, its pelvis height and its ground speed.

    Why: held-out performers are worst reconstructed in their pelvis orientation, i.e. how they turn (v0.5:
    standardised error 2.6 on the test split, as bad as the mean pose), and the pelvis path follows the turn.
    A dozen training performers turn in few ways; bending their paths shows the network many more."""
    n = len(motion)
    angles = yaw_rate * np.arange(n) / motion.fps
    turn = R.axis_angle_to_quaternion(torch.from_numpy(np.stack([np.zeros(n), np.zeros(n), angles], -1)).float())
    q = torch.from_numpy(motion.rotations.copy())
    q[:, 0] = R.quaternion_multiply(turn, q[:, 0])
    step = np.diff(motion.translation[:, :2].astype(np.float64), axis=0)
    c, s = np.cos(angles[1:]), np.sin(angles[1:])
    bent = np.stack([c * step[:, 0] - s * step[:, 1], s * step[:, 0] + c * step[:, 1]], -1)
    translation = motion.translation.astype(np.float64)
    translation[1:, :2] = translation[0, :2] + np.cumsum(bent, axis=0)
    return Motion(q.numpy(), translation.astype(np.float32), motion.fps)
