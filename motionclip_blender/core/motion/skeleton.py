"""The SMPL skeleton: 24 joints, parents and rest offsets.

Convention, stated once for the whole project (the "Blender convention"): metres, Z up, the character
faces -Y at rest and its left side is +X. SMPL's own frame (Y up, facing +Z, left +X) maps here by a
+90 degree rotation about X: (x, y, z)_smpl -> (x, -z, y)_blender. Rotations in a Motion are local joint
rotations relative to this rest pose (identity rotations = the SMPL rest pose, arms slightly down).
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
# the joints a foot touches the floor with: contact, flight, floor level and skating are all measured on these
FOOT_JOINTS: list[int] = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

# Neutral SMPL body, child joint minus parent joint, in SMPL's frame (Y up, facing +Z).
_OFFSETS_SMPL_FRAME = np.array([
    [0.0, 0.0, 0.0],
    [0.05858135, -0.08228004, -0.01766408],
    [-0.06030973, -0.09051332, -0.01354254],
    [0.00443945, 0.12440352, -0.03838522],
    [0.04345142, -0.38646945, 0.00803700],
    [-0.04325663, -0.38368791, -0.00484304],
    [0.00448844, 0.13795640, 0.02682033],
    [-0.01479032, -0.42687458, -0.03742800],
    [0.01905555, -0.42004550, -0.03456167],
    [-0.00226458, 0.05603239, 0.00285505],
    [0.04105436, -0.06028581, 0.12204243],
    [-0.03483987, -0.06210566, 0.13032329],
    [-0.01339020, 0.21163553, -0.03346758],
    [0.07170245, 0.11399969, -0.01889817],
    [-0.08295366, 0.11247234, -0.02370739],
    [0.01011321, 0.08893734, 0.05040987],
    [0.12292141, 0.04520509, -0.01904600],
    [-0.11322832, 0.04685326, -0.00847207],
    [0.25533190, -0.01564902, -0.02294649],
    [-0.26012748, -0.01436928, -0.03126873],
    [0.26570925, 0.01269811, -0.00737473],
    [-0.26910836, 0.00679372, -0.00602676],
    [0.08669055, -0.01063603, -0.01559429],
    [-0.08875370, -0.00865157, -0.01010708],
], dtype=np.float64)

# (x, y, z)_smpl -> (x, -z, y)_blender
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

REST_OFFSETS: np.ndarray = (_OFFSETS_SMPL_FRAME @ SMPL_TO_BLENDER.T).astype(np.float32)
REST_OFFSETS.setflags(write=False)

# Joints whose bone ends at an end site rather than at a child joint: a short tip in the direction of
# the incoming bone so leaves get a visible bone and a direction (used by rigs and retargeting).
LEAF_TIP_LENGTH = {"head": 0.12, "left_foot": 0.06, "right_foot": 0.06, "left_hand": 0.08, "right_hand": 0.08}

# Which child a joint's bone points at (for bone directions and rigs); pelvis and spine3 branch.
PRIMARY_CHILD: dict[int, int] = {}
for _j, _p in enumerate(PARENTS):
    if _p >= 0 and _p not in PRIMARY_CHILD:
        PRIMARY_CHILD[_p] = _j
PRIMARY_CHILD[JOINT_INDEX["pelvis"]] = JOINT_INDEX["spine1"]
PRIMARY_CHILD[JOINT_INDEX["spine3"]] = JOINT_INDEX["neck"]

MIRROR_INDEX: tuple[int, ...] = tuple(
    JOINT_INDEX[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")]
    for n in JOINT_NAMES
)


def rest_joint_positions(offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """World rest positions (24, 3) with the pelvis at the origin."""
    pos = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    for j, p in enumerate(PARENTS):
        if p >= 0:
            pos[j] = pos[p] + offsets[j]
    return pos


def rest_pelvis_height(offsets: np.ndarray = REST_OFFSETS) -> float:
    """Height of the pelvis above the lowest rest joint (the soles): the standing root height."""
    pos = rest_joint_positions(offsets)
    return float(-pos[:, 2].min())


def leaf_tip(joint: int, offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """Rest-space vector from a leaf joint to its bone tip (follows the incoming bone)."""
    name = JOINT_NAMES[joint]
    incoming = np.asarray(offsets[joint], dtype=np.float64)
    direction = incoming / max(np.linalg.norm(incoming), 1e-9)
    if name == "head":
        direction = np.array([0.0, 0.0, 1.0])
    return direction * LEAF_TIP_LENGTH.get(name, 0.05)
