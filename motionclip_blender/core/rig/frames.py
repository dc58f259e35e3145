"""The retargeter's vocabulary (bpy-free): a rig at rest, baked pose channels, SMPL's own frame and measures,
and the small vector helpers both directions of ``retarget.py`` share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import MotionCLIPError
from ..motion import rotations as R
from ..motion.heading import left_vector
from ..motion.skeleton import JOINT_INDEX, NUM_JOINTS, rest_joint_positions

ROOT_MODES = ("FULL", "IN_PLACE", "KEEP_START")
_ANKLES = ("left_ankle", "right_ankle")


class RetargetError(MotionCLIPError, ValueError):
    """The rig or map cannot be retargeted; the message says what to fix."""


@dataclass
class RigRest:
    """What the math needs from one armature at rest (all armature space, as Blender stores it)."""

    names: list[str]
    parents: list[int]  # index into names, -1 for roots; parents come before children
    rest: np.ndarray  # (B, 4, 4) bone.matrix_local
    tails: np.ndarray  # (B, 3) bone.tail_local
    object_matrix: np.ndarray = field(default_factory=lambda: np.eye(4))
    connected: list[bool] | None = None  # use_connect: a connected bone ignores location keys

    @classmethod
    def build(cls, names: Sequence[str], parent_names: Sequence[str | None], rest, tails, object_matrix=None,
              connected: Sequence[bool] | None = None) -> "RigRest":
        """Any bone order in; parents-before-children out."""
        index = {n: i for i, n in enumerate(names)}
        order, seen = [], set()

        def visit(i):
            if i in seen:
                return
            p = parent_names[i]
            if p is not None:
                visit(index[p])
            seen.add(i)
            order.append(i)

        for i in range(len(names)):
            visit(i)
        new = {old: k for k, old in enumerate(order)}
        parents = [new[index[parent_names[i]]] if parent_names[i] is not None else -1 for i in order]
        return cls([names[i] for i in order], parents, np.asarray(rest, np.float64)[order],
                   np.asarray(tails, np.float64)[order],
                   np.eye(4) if object_matrix is None else np.asarray(object_matrix, np.float64),
                   [bool(connected[i]) for i in order] if connected is not None else None)


@dataclass
class PoseChannels:
    """Bone-space pose channels for a bake: quaternions for ``bones`` and a location for ``location_bone``."""

    bones: list[str]
    quaternions: np.ndarray  # (F, len(bones), 4) float32, sign-continuous over time
    location_bone: str
    location: np.ndarray  # (F, 3) float32
    # bones above location_bone whose location must be keyed at zero: the root path assumes them there, and a
    # mocap action underneath (NLA) would otherwise add its own root travel through them
    still: list[str] = field(default_factory=list)


def _rot_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return R.rotation_between(torch.from_numpy(np.asarray(a, np.float64)),
                              torch.from_numpy(np.asarray(b, np.float64))).numpy()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _triad(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Columns (left, forward-ish, up) of a right-handed frame: the SMPL frame's (+X, +Y, +Z)."""
    up = _unit(up)
    left = _unit(left - (left @ up) * up)
    return np.stack([left, np.cross(up, left), up], axis=1)


def _body_up(heads: Mapping[str, np.ndarray], world_up: np.ndarray) -> np.ndarray:
    """World up, unless the reference body (pelvis to head) stands more than ~37° away from it: then the body's
    own up, snapped to the nearest armature axis within 15° (importers lay files on an axis)."""
    body = _unit(heads["head"] - heads["pelvis"])
    if body @ world_up >= 0.8:
        return world_up
    axis = np.eye(3)[int(np.argmax(np.abs(body)))] * np.sign(body[int(np.argmax(np.abs(body)))])
    return axis if body @ axis >= np.cos(np.radians(15.0)) else body


_SMPL_POS = rest_joint_positions()
_SMPL_FRAME = _triad(left_vector(_SMPL_POS),
                     np.array([0.0, 0.0, 1.0]))


def _standing_height(heads: np.ndarray, joint_bone: Mapping[int, int], up: np.ndarray) -> float:
    """Pelvis height above the ankles were the legs straight: the pelvis-to-hips drop along ``up`` plus the
    mean leg length (hip -> knee -> ankle)."""
    def at(name: str) -> np.ndarray:
        return heads[joint_bone[JOINT_INDEX[name]]]
    legs = [np.linalg.norm(at(f"{s}_knee") - at(f"{s}_hip")) + np.linalg.norm(at(f"{s}_ankle") - at(f"{s}_knee"))
            for s in ("left", "right")]
    drop = (at("pelvis") - (at("left_hip") + at("right_hip")) / 2) @ up
    return float(drop + np.mean(legs))


_SMPL_STANDING = _standing_height(_SMPL_POS, {j: j for j in range(NUM_JOINTS)}, np.array([0.0, 0.0, 1.0]))
_FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")
