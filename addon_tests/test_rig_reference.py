"""Rigs that do not stand in their rest pose bind through a standing frame of their animation (issue 17):
an iClone-CC-like rig resting with its legs up, and a rig lying on its back under an extra root bone (what a
Z-up exporter read as Y-up looks like). Checked with the numpy pose evaluation of test_retarget_core: the
baked pose puts every joint where the same motion puts it on the standing rig, and reads back to the motion."""

from __future__ import annotations

import numpy as np
import pytest

from addon_tests import rig_builders as rb
from addon_tests.test_retarget_core import evaluate_pose, random_motion
from motionclip_blender.core.rig import presets as rig_maps
from motionclip_blender.core.rig.retarget import RetargetError, Retargeter, RigRest
from motionclip_blender.core.rig.reference import find_rig_reference, rest_stands


def _rigid(axis: int, deg: float, pivot: np.ndarray) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    m = np.eye(4)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    m[:3, 3] = pivot - m[:3, :3] @ pivot
    return m


def _subtree(rig: RigRest, top: str) -> list[int]:
    out = [rig.names.index(top)]
    for b, p in enumerate(rig.parents):
        if p in out:
            out.append(b)
    return out


def _moved(rig: RigRest, bones: list[int], flip: np.ndarray) -> RigRest:
    """The same rig with ``bones`` rested elsewhere (turned rigidly by ``flip``)."""
    rest, tails = rig.rest.copy(), rig.tails.copy()
    rest[bones] = flip @ rest[bones]
    tails[bones] = tails[bones] @ flip[:3, :3].T + flip[:3, 3]
    return RigRest(rig.names, rig.parents, rest, tails, rig.object_matrix, rig.connected)


def legs_up() -> tuple[RigRest, RigRest]:
    standing = rb.mixamo().rig_rest()
    odd = standing
    for side in ("Left", "Right"):
        bones = _subtree(standing, f"mixamorig:{side}UpLeg")
        odd = _moved(odd, bones, _rigid(0, 180.0, standing.rest[bones[0], :3, 3]))
    return standing, odd


def lying_under_a_root() -> tuple[RigRest, RigRest]:
    test_rig = rb.mixamo()
    test_rig.bones.insert(0, rb.BoneSpec("Root", np.zeros(3), np.array([0.0, 0.0, 0.2]), None, np.array([0.0, 1, 0])))
    test_rig.bones[1].parent = "Root"
    standing = test_rig.rig_rest()
    return standing, _moved(standing, list(range(len(standing.names))), _rigid(0, -90.0, np.zeros(3)))


@pytest.mark.parametrize("make", [legs_up, lying_under_a_root])
def test_a_rig_that_rests_lying_binds_through_its_standing_frame(make):
    standing, odd = make()
    bone_map = rig_maps.detect(odd.names).bone_map
    assert rest_stands(standing, bone_map) and not rest_stands(odd, bone_map)
    try:  # measured at rest, the pose would be nonsense: refused (legs up) or at least warned about (lying)
        assert any("does not stand upright" in w for w in Retargeter(odd, bone_map).warnings)
    except RetargetError as exc:
        assert "not above its ankles" in str(exc)
    with pytest.raises(RetargetError, match="has no animation to find a standing frame"):
        find_rig_reference(odd, bone_map, None, "iclone")

    motion = random_motion(30, seed=3)
    on_standing = evaluate_pose(standing, Retargeter(standing, bone_map).to_rig(motion))
    # the rig's own animation: frame 0 its standing T-pose (as mocap files have), then the motion
    animation = np.concatenate([standing.rest[None], on_standing])
    reference, label = find_rig_reference(odd, bone_map, animation, "iclone")
    assert label == "frame 0 (T/A-pose) of its action" and np.allclose(reference, standing.rest)

    rt = Retargeter(odd, bone_map, reference)
    pose = evaluate_pose(odd, rt.to_rig(motion))
    mapped = sorted(set(rt.joint_bone.values()))
    gap = np.linalg.norm(pose[:, mapped, :3, 3] - on_standing[:, mapped, :3, 3], axis=-1)
    print(f"{make.__name__}: mapped heads within {gap.max() * 1000:.4f} mm of the standing rig's")
    assert gap.max() < 1e-6
    back = rt.from_rig(pose, motion.fps)
    mm = np.linalg.norm(back.joint_positions() - motion.joint_positions(), axis=-1) * 1000
    assert mm.max() < 1.0


def test_a_rig_that_never_stands_is_refused_with_what_to_do():
    standing, odd = legs_up()
    bone_map = rig_maps.detect(odd.names).bone_map
    tangled = np.repeat(odd.rest[None], 4, axis=0)  # its animation never leaves the legs-up pose
    tangled[:, :, :3, 3] *= [1.0, 1.0, -1.0]  # and is upside down besides: no frame, no estimate
    with pytest.raises(RetargetError, match="stands neither in its rest pose nor in any frame"):
        find_rig_reference(odd, bone_map, tangled, "iclone")
    assert find_rig_reference(standing, bone_map, None) == (None, "rest pose")
