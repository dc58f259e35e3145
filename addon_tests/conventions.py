"""Write one motion as BVH files in other skeleton conventions, for the importer's torture suite.

A convention changes how the same performance is written, never the performance: bone frames (joint orients,
the file's rest pose), world axes, units, channel layout, Euler order, an extra root, an added T-pose frame.
Joints carry cgspeed/MotionBuilder names, so the importer's joint map is not what is under test.

Maths: with SMPL world rotations G_j and a constant bone frame B_j per joint, the file's world rotation is
R_w·G_j·B_j, its offsets B_parent^T·offset/unit and its local rotations B_parent^T·L_j·B_j (the root's
R_w·G_0·B_0): forward kinematics of the file gives back R_w·positions/unit exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.motion.kinematics import forward_kinematics
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.motion.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS, PRIMARY_CHILD, REST_OFFSETS

NAMES = {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck",
         "head": "Head"}
for _side in ("left", "right"):
    S = _side.capitalize()
    NAMES.update({f"{_side}_hip": f"{S}UpLeg", f"{_side}_knee": f"{S}Leg", f"{_side}_ankle": f"{S}Foot",
                  f"{_side}_foot": f"{S}ToeBase", f"{_side}_collar": f"{S}Shoulder", f"{_side}_shoulder": f"{S}Arm",
                  f"{_side}_elbow": f"{S}ForeArm", f"{_side}_wrist": f"{S}Hand", f"{_side}_hand": f"{S}FingerBase"})
AXES = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0]), "z": np.array([0, 0, 1.0])}


@dataclass(frozen=True)
class Convention:
    name: str
    orient: str = "none"  # "none" (rest = SMPL's standing pose), "x"/"y"/"z" (bones along that local axis), "odd"
    world: str = "z-up"  # "z-up" (ours), "y-up" (SMPL/BVH: facing +Z), "y-up-z-back" (facing -Z), "x-up"
    unit_m: float = 1.0
    channels6: bool = False
    euler: str = "ZXY"
    extra_root: bool = False
    tpose_frame0: bool = False


CONVENTIONS = [
    Convention("plain-y-up-cm", world="y-up", unit_m=0.01),
    Convention("orient-x-y-up-cm-6ch-extra-root", orient="x", world="y-up", unit_m=0.01, channels6=True,
               extra_root=True),
    Convention("orient-y-z-up-m-xyz", orient="y", euler="XYZ"),
    Convention("orient-z-x-up-inch-yxz", orient="z", world="x-up", unit_m=0.0254, euler="YXZ"),
    Convention("orient-x-facing-minus-z-zyx", orient="x", world="y-up-z-back", euler="ZYX"),
    Convention("plain-z-up-inch-6ch-xzy", unit_m=0.0254, channels6=True, euler="XZY"),
    Convention("odd-rest-tpose-frame0-y-up", orient="odd", world="y-up", unit_m=0.01, tpose_frame0=True),
    Convention("odd-rest-no-tpose-z-up-yzx", orient="odd", euler="YZX"),
    Convention("orient-y-x-up-cm-extra-root-zxy", orient="y", world="x-up", unit_m=0.01, extra_root=True),
    Convention("orient-z-y-up-m-6ch-yzx", orient="z", world="y-up", channels6=True, euler="YZX"),
    Convention("odd-rest-tpose-frame0-facing-minus-z-inch", orient="odd", world="y-up-z-back", unit_m=0.0254,
               tpose_frame0=True, euler="XYZ"),
]


def _world_rotation(world: str) -> np.ndarray:
    """Project axes (Z up, facing -Y) -> the file's world axes."""
    if world == "z-up":
        return np.eye(3)
    to_y_up = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # z -> y, -y -> z: facing +Z
    if world == "y-up":
        return to_y_up
    if world == "y-up-z-back":
        return np.diag([-1.0, 1, -1]) @ to_y_up  # turned half about Y: facing -Z
    if world == "x-up":
        return np.array([[0, 0, 1.0], [1, 0, 0], [0, 1, 0]])  # z -> x, x -> y, y -> z
    raise ValueError(world)


def _bone_frames(orient: str, seed: int = 7) -> np.ndarray:
    """(24, 3, 3) B_j: the file-local axes of each joint in the project's rest frame."""
    frames = np.repeat(np.eye(3)[None], len(JOINT_NAMES), axis=0)
    if orient == "none":
        return frames
    if orient == "odd":
        rng = np.random.default_rng(seed)
        q = torch.from_numpy(rng.normal(size=(len(JOINT_NAMES), 4)))
        return R.quaternion_to_matrix(torch.nn.functional.normalize(q, dim=-1)).numpy()
    axis = torch.from_numpy(AXES[orient])
    for j in range(len(JOINT_NAMES)):
        child = PRIMARY_CHILD.get(j)
        bone = REST_OFFSETS[child] if child is not None else None
        if bone is None:
            frames[j] = frames[PARENTS[j]]
            continue
        frames[j] = R.rotation_between(axis, torch.from_numpy(np.asarray(bone, np.float64))).numpy()
    return frames


def _tpose(motion: Motion) -> Motion:
    """One frame: the first frame's root, every joint at rest but the arms straight out sideways."""
    rot = np.zeros((1, 24, 4), np.float32)
    rot[..., 0] = 1
    for side, target in (("left", [1.0, 0, 0]), ("right", [-1.0, 0, 0])):
        j = JOINT_INDEX[f"{side}_shoulder"]
        arm = REST_OFFSETS[JOINT_INDEX[f"{side}_elbow"]]
        rot[0, j] = R.matrix_to_quaternion(R.rotation_between(torch.tensor(arm, dtype=torch.float64),
                                                              torch.tensor(target, dtype=torch.float64))).numpy()
    return Motion(rot, motion.translation[:1], motion.fps)


def write(motion: Motion, path: Path, conv: Convention) -> None:
    if conv.tpose_frame0:
        first = _tpose(motion)
        motion = Motion(np.concatenate([first.rotations, motion.rotations]),
                        np.concatenate([first.translation, motion.translation]), motion.fps)
    local = motion.matrices().double().numpy()
    world_rot = forward_kinematics(torch.from_numpy(local), torch.from_numpy(motion.translation).double(),
                                   torch.tensor(REST_OFFSETS, dtype=torch.float64))[1].numpy()
    rw = _world_rotation(conv.world)
    # plain files stand in their own world's up at rest: their bone frames are the world change itself
    b = np.repeat(rw.T[None], len(JOINT_NAMES), axis=0) if conv.orient == "none" else _bone_frames(conv.orient)
    file_local = np.einsum("jba,fjbc,jcd->fjad", b[list(max(p, 0) for p in PARENTS)], local, b)
    file_local[:, 0] = rw @ world_rot[:, 0] @ b[0]
    offsets = np.stack([b[max(p, 0)].T @ REST_OFFSETS[j] for j, p in enumerate(PARENTS)]) / conv.unit_m
    root_pos = motion.translation.astype(np.float64) @ rw.T / conv.unit_m
    euler = np.rad2deg(R.matrix_to_euler(torch.from_numpy(file_local), conv.euler).numpy())
    rot_ch = [f"{a}rotation" for a in conv.euler]
    pos_ch = ["Xposition", "Yposition", "Zposition"]

    children = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(len(PARENTS))}
    lines, columns = ["HIERARCHY"], []
    if conv.extra_root:
        lines += ["ROOT Root", "{", "  OFFSET 0 0 0", "  CHANNELS 6 " + " ".join(pos_ch + rot_ch)]
        columns.append(np.concatenate([root_pos, np.zeros_like(root_pos)], axis=1))

    def joint(j: int, depth: int) -> None:
        pad = "  " * depth
        root = j == 0 and not conv.extra_root
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {NAMES[JOINT_NAMES[j]]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(f'{v:.6f}' for v in (offsets[j] if j else np.zeros(3)))}")
        if root or conv.channels6 or (j == 0 and conv.extra_root):
            lines.append(f"{pad}  CHANNELS 6 {' '.join(pos_ch + rot_ch)}")
            pos = root_pos if root else (np.zeros_like(root_pos) if j == 0 and not conv.channels6
                                         else np.repeat(offsets[j][None], len(motion), 0))
            if j == 0 and conv.extra_root:
                pos = np.zeros_like(root_pos)
            columns.append(np.concatenate([pos, euler[:, j]], axis=1))
        else:
            lines.append(f"{pad}  CHANNELS 3 {' '.join(rot_ch)}")
            columns.append(euler[:, j])
        for c in children[j]:
            joint(c, depth + 1)
        if not children[j]:
            bone = np.asarray(REST_OFFSETS[j], np.float64)
            tip = b[j].T @ (0.05 * bone / max(np.linalg.norm(bone), 1e-9)) / conv.unit_m
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {' '.join(f'{v:.6f}' for v in tip)}",
                          f"{pad}  }}"])
        lines.append(pad + "}")

    joint(0, 1 if conv.extra_root else 0)
    if conv.extra_root:
        lines.append("}")
    table = np.concatenate(columns, axis=1)
    lines += ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
