"""The pose a rig is measured against when binding it (bpy-free): the mocap importer's reference rules
(``reference_pose.find_reference``) applied to an armature's bone heads.

A rig whose rest pose is a standing body (nearly every character rig, and what Blender's BVH importer makes of
most mocap) is measured at rest. Others are not: an iClone CC BVH imported into Blender rests with its legs up
and stands only in its animation (a T-pose at frame 0). For those the reference is a standing frame of the
rig's action, found once and stored with the rig by the Blender layer, so later bakes (which replace the
action) keep measuring against the same pose.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..io.reference_pose import find_reference, standing_pose
from ..motion.motion import MotionFileError
from .retarget import RetargetError, RigRest
from ..motion.skeleton import JOINT_INDEX


def _joint_bones(rig: RigRest, bone_map: Mapping[str, str]) -> dict[int, int]:
    index = {n: i for i, n in enumerate(rig.names)}
    return {JOINT_INDEX[j]: index[b] for j, b in bone_map.items() if j in JOINT_INDEX and b in index}


def _world_up(rig: RigRest) -> np.ndarray:
    """World +Z in armature space (the object may turn a Y-up rig upright)."""
    m3 = rig.object_matrix[:3, :3]
    up = np.linalg.inv(m3) @ np.array([0.0, 0.0, 1.0])
    return up / max(float(np.linalg.norm(up)), 1e-12)


def _upright(rig: RigRest, idx: dict[int, int]):
    """pos -> is the pelvis-to-head line within ~37° of world up? A rig lying on its back is a standing body
    along its own axis (``reference_pose.standing_pose``) but no reference."""
    up = _world_up(rig)

    def upright(heads: np.ndarray) -> bool:
        spine = heads[idx[JOINT_INDEX["head"]]] - heads[idx[0]]
        return float(spine @ up) >= 0.8 * float(np.linalg.norm(spine))
    return upright


def _stands(rig: RigRest, heads: np.ndarray, idx: dict[int, int]) -> bool:
    return _upright(rig, idx)(heads) and standing_pose(heads, idx)


def _bindable(heads: np.ndarray, idx: dict[int, int], up: np.ndarray | None) -> bool:
    """Enough of a body to bind to (an estimate from a take that never stands straight, e.g. dribbling in a
    crouch): the head over the pelvis along ``up`` (default: the body's own axis) and the pelvis above both
    ankles."""
    pelvis, head = heads[idx[0]], heads[idx[JOINT_INDEX["head"]]]
    spine = head - pelvis
    up = spine / max(float(np.linalg.norm(spine)), 1e-12) if up is None else up
    return float(spine @ up) >= 0.8 * float(np.linalg.norm(spine)) and all(
        float((pelvis - heads[idx[JOINT_INDEX[a]]]) @ up) > 0 for a in ("left_ankle", "right_ankle"))


def rest_stands(rig: RigRest, bone_map: Mapping[str, str]) -> bool:
    """Does the rest pose stand upright? Then it is the reference."""
    return _stands(rig, rig.rest[:, :3, 3], _joint_bones(rig, bone_map))


def find_rig_reference(rig: RigRest, bone_map: Mapping[str, str], poses: np.ndarray | None = None,
                       name: str = "the rig", frame_numbers=None) -> tuple[np.ndarray | None, str]:
    """(reference pose matrices (B, 4, 4) or None for the rest pose, how it was chosen). ``poses``: the rig's
    animation as armature-space pose matrices (F, B, 4, 4), needed only when the rest pose does not stand;
    ``frame_numbers``: the scene frame of each (for the label; default 0, 1, ...).
    Raises RetargetError naming what to do when neither the rest pose nor any frame can serve."""
    idx = _joint_bones(rig, bone_map)
    if rest_stands(rig, bone_map):
        return None, "rest pose"
    if poses is None or len(poses) == 0:
        raise RetargetError(f"'{name}' does not stand in its rest pose (head over pelvis over straight legs) and "
                            "has no animation to find a standing frame in: give it an action with a standing "
                            "frame (mocap files have a T-pose at frame 0) or fix its rest pose")
    poses = np.asarray(poses, np.float64)
    heads, lying = poses[:, :, :3, 3], ""
    try:
        found = find_reference(name, rig.rest[:, :3, 3], None, heads, poses, idx, _upright(rig, idx))
        if found.rot is None or not _bindable(found.rot[:, :3, 3], idx, _world_up(rig)):
            raise MotionFileError("no pose upright in the world")
    except MotionFileError:
        # nothing stands along world up: an importer laid the whole take down (a Z-up file read as Y-up). Take
        # the body's own up, as the mocap importer does with files: the motion then lies as the mocap does.
        try:
            found = find_reference(name, rig.rest[:, :3, 3], None, heads, poses, idx)
        except MotionFileError as exc:
            raise RetargetError(str(exc)) from None
        pose = rig.rest[:, :3, 3] if found.rot is None else found.rot[:, :3, 3]
        if not _bindable(pose, idx, None):  # an estimate from a tumbling take is no pose to bind a rig to
            raise RetargetError(f"'{name}' stands neither in its rest pose nor in any frame of its action (head over "
                                "pelvis over straight legs): fix its rest pose, or give it an action with a "
                                "standing frame")
        lying = ", lying in the world"
        if found.rot is None:
            return None, f"{found.label}{lying}"
    label = found.label
    if found.frame is not None and frame_numbers is not None:
        label = label.replace(f"frame {found.frame}", f"frame {int(frame_numbers[found.frame])}", 1)
    return found.rot, f"{label} of its action{lying}"
