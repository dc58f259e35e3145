"""Binding a rig: which pose its bones are measured against (``core/rig/reference.py``), kept with the rig.

Most rigs stand at rest and are measured there. One that does not (Blender's BVH importer makes an iClone CC
take into a rig resting with its legs up) is measured against a standing frame of its action; that pose is
stored on the armature data the first time, because baking replaces the action it was found in.
"""

from __future__ import annotations

import numpy as np

from .retarget import MapError, rig_rest, sample_pose

REFERENCE_PROP = "motionclip_reference"
_REFERENCE_SAMPLES = 400  # frames of the action looked at for a standing pose (evenly spread)


def bind(context, arm, bone_map: dict, store: bool = True):
    """(RigRest, Retargeter, how the reference pose was chosen) for ``arm``. A rig that does not stand at rest
    is measured against a standing frame of its action (``core/rig/reference.py``); that pose is stored on the
    armature data once found, so baking a new action (which replaces the one it was found in) keeps the same
    binding. Raises MapError saying what to change."""
    from ..core.rig.retarget import Retargeter, RetargetError
    from ..core.rig.reference import find_rig_reference, rest_stands

    rig = rig_rest(arm)
    stored = arm.data.get(REFERENCE_PROP)
    try:
        if stored is not None and list(stored.get("bones", [])) == [b.name for b in arm.data.bones]:
            blender_order = np.array(stored["matrices"], np.float64).reshape(-1, 4, 4)
            reference = blender_order[rig.pose_order] if len(blender_order) else None
            rt = Retargeter(rig, bone_map, reference, floor=0.0)
            return rig, rt, f"{stored['label']} (stored with the rig)"
        if rest_stands(rig, bone_map):
            return rig, Retargeter(rig, bone_map), "rest pose"
        poses, frames = _action_poses(context, arm, rig)
        reference, label = find_rig_reference(rig, bone_map, poses, arm.name, frames)
        rt = Retargeter(rig, bone_map, reference, floor=0.0)  # the armature's origin plane: where it stands
        if store:
            _store_reference(arm, rig, reference, label)
        return rig, rt, label
    except RetargetError as exc:
        raise MapError(f"'{arm.name}': {exc}") from None


def _action_poses(context, arm, rig):
    """(pose matrices, their frame numbers) over the active action, or (None, None)."""
    ad = arm.animation_data
    if ad is None or ad.action is None:
        return None, None
    first, last = (int(round(f)) for f in ad.action.frame_range)
    frames = np.unique(np.linspace(first, last, min(_REFERENCE_SAMPLES, last - first + 1)).round().astype(int))
    return sample_pose(context, arm, rig, frames), frames


def _store_reference(arm, rig, reference, label: str) -> None:
    """Kept in Blender's bone order (``rig.names`` is parents-first) so the stored pose reads back on any load;
    an empty list stands for the rest pose (a rig lying in the world that stands in its rest pose)."""
    in_blender_order = np.empty((0, 4, 4))
    if reference is not None:
        in_blender_order = np.empty_like(reference)
        in_blender_order[rig.pose_order] = reference
    arm.data[REFERENCE_PROP] = {"bones": [b.name for b in arm.data.bones], "label": label,
                                "matrices": in_blender_order.reshape(-1).tolist()}
