"""The one reference-pose finder (issue 17), shared by the mocap importer (``mocap.py``) and the rig binder
(``rig/reference.py``): which pose a skeleton's bones are measured against — its rest pose when that is a
standing body, else a T-pose or the most upright standing frame of its animation, else an estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..motion.motion import MotionFileError
from ..motion.skeleton import JOINT_INDEX


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _limb(pos: np.ndarray, idx: dict[int, int], a: str, b: str) -> np.ndarray:
    return _unit(pos[idx[JOINT_INDEX[b]]] - pos[idx[JOINT_INDEX[a]]])


def standing_pose(pos: np.ndarray, idx: dict[int, int]) -> bool:
    """Head above the pelvis and both legs hanging the opposite way: a body, not a bind-pose tangle."""
    up = _limb(pos, idx, "pelvis", "head")
    return all(float(_limb(pos, idx, f"{s}_hip", f"{s}_ankle") @ up) < -0.8
               and float(_limb(pos, idx, f"{s}_hip", f"{s}_knee") @ _limb(pos, idx, f"{s}_knee", f"{s}_ankle")) > 0.7
               for s in ("left", "right"))  # legs below the body and not folded (a crouch is no reference)


def _rest_like(pos: np.ndarray, idx: dict[int, int]) -> bool:
    """Standing with straight legs and straight arms held out sideways (T-pose or A-pose)."""
    if not standing_pose(pos, idx):
        return False
    up = _limb(pos, idx, "pelvis", "head")
    left = pos[idx[JOINT_INDEX["left_hip"]]] - pos[idx[JOINT_INDEX["right_hip"]]]
    left = _unit(left - (left @ up) * up)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        if float(_limb(pos, idx, f"{side}_hip", f"{side}_ankle") @ up) > -0.95:
            return False
        upper = _limb(pos, idx, f"{side}_shoulder", f"{side}_elbow")
        fore = _limb(pos, idx, f"{side}_elbow", f"{side}_wrist")
        if abs(float(upper @ up)) > 0.8 or sign * float(upper @ left) < 0.5 or float(upper @ fore) < 0.8:
            return False
    return True


@dataclass
class Reference:
    """The pose the source's bones are measured against (see :func:`find_reference`)."""

    pos: np.ndarray  # (J, 3) joint positions, source axes
    rot: torch.Tensor  # (J, 3, 3) world rotations
    label: str  # for ImportInfo and reports
    frame: int | None = None  # the animation frame used, None for the rest pose
    up: np.ndarray | None = None  # source-axes up estimated across frames (else the pose's own)
    tpose: bool = False  # the rest or a T/A-pose: leading frames close to it may be an added pose, dropped


def find_reference(path, rest_pos: np.ndarray, rest_rot: torch.Tensor, pos: np.ndarray, world: torch.Tensor,
                   idx: dict[int, int], upright=None) -> Reference:
    """The one reference-pose finder (mocap import; rig binding uses the same rules):

    1. the rest pose, when it is a standing T- or A-pose, or at least a standing body;
    2. else the first T/A-pose frame of the animation, else its most upright standing frame (joint-orient
       files, whose zero pose is a tangle or lies along one axis, stand in their animation);
    3. else an estimate from the animation: up from the head over the feet across frames, the bones from the
       frame most upright along it;
    4. else a clear error: no standing reference means the import would come out lying or upside down.

    ``upright(pos) -> bool``: when the world's up is known (a rig in Blender), a pose must also stand along it."""
    upright = upright or (lambda _pos: True)
    if upright(rest_pos) and _rest_like(rest_pos, idx):
        return Reference(rest_pos, rest_rot, "rest pose (T/A-pose)", tpose=True)
    if upright(rest_pos) and standing_pose(rest_pos, idx):
        return Reference(rest_pos, rest_rot, "rest pose (standing)", tpose=True)
    frames = len(pos)
    candidates = [k for k in np.unique(np.linspace(0, frames - 1, min(frames, 2000)).round().astype(int))
                  if upright(pos[k])]
    for k in candidates:
        if _rest_like(pos[k], idx):
            # only a T-pose at the very start can be an added pose (exporters put one there); one met later
            # is a moment of the performance
            return Reference(pos[k], world[k], f"frame {k} (T/A-pose)", frame=int(k), tpose=k == 0)
    straight = [(_leg_straightness(pos[k], idx), k) for k in candidates if standing_pose(pos[k], idx)]
    if straight:
        k = max(straight)[1]
        return Reference(pos[k], world[k], f"frame {k} (most upright standing frame)", frame=int(k))
    head, pelvis = pos[:, idx[JOINT_INDEX["head"]]], pos[:, idx[0]]
    feet = (pos[:, idx[JOINT_INDEX["left_ankle"]]] + pos[:, idx[JOINT_INDEX["right_ankle"]]]) / 2
    tall = head - feet
    up = (tall / np.maximum(np.linalg.norm(tall, axis=-1, keepdims=True), 1e-12)).mean(0)
    if np.linalg.norm(up) < 0.5:
        raise MotionFileError(f"{path}: cannot find a reference pose: the rest pose is no standing body, no frame "
                              "is a T-pose or a standing pose, and the head is over the feet in no steady direction")
    up = _unit(up)
    spine = head - pelvis
    k = int(np.argmax((spine @ up) / np.maximum(np.linalg.norm(spine, axis=-1), 1e-12)))
    return Reference(pos[k], world[k], f"estimated from the animation (up from head over feet, frame {k})",
                     frame=k, up=up)


def _leg_straightness(pos: np.ndarray, idx: dict[int, int]) -> float:
    up = _limb(pos, idx, "pelvis", "head")
    return -sum(float(_limb(pos, idx, f"{s}_hip", f"{s}_ankle") @ up) for s in ("left", "right"))
