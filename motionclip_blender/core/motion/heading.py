"""Which way a body faces: the one definition of heading, used by windows, timelines, keys, blending, the
retargeter and the mocap importer. Heading is an angle about +Z in radians, 0 when the body faces -Y (its
left is +X, the project's rest facing), taken from the body's left vector across hips and shoulders."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .skeleton import JOINT_INDEX

SIDE_PAIRS = (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"))


def left_vector(pos) -> np.ndarray:
    """(..., 3) the body's left across hips and shoulders: from joint positions (..., 24, 3), or from a
    mapping of SMPL joint name -> position (a rig's bone heads)."""
    if isinstance(pos, Mapping):
        return sum(np.asarray(pos[a]) - np.asarray(pos[b]) for a, b in SIDE_PAIRS)
    return sum(pos[..., JOINT_INDEX[a], :] - pos[..., JOINT_INDEX[b], :] for a, b in SIDE_PAIRS)


def heading_from_left(left: np.ndarray) -> np.ndarray:
    """Heading of left vectors (..., 2 or 3); the body then faces (sin a, -cos a)."""
    left = np.asarray(left)
    return np.arctan2(left[..., 1], left[..., 0])


def heading_from_positions(pos: np.ndarray) -> np.ndarray:
    """(F,) heading per frame of joint positions (F, 24, 3)."""
    return heading_from_left(left_vector(pos))
