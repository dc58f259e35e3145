"""Import any humanoid mocap (BVH of any naming scheme, CMU ASF+AMC) onto the SMPL skeleton as a Motion.

Method (rest-pose aware, because sources stand in a T-pose while SMPL's rest has the arms slightly down):

1. The source's own forward kinematics gives world rotations G (frames, J, 3, 3) and joint positions.
2. A reference pose fixes how the source stands: its zero-rotation rest pose when that is a standing body
   (BVH and ASF conversions of CMU, Mixamo), else frame 0 when that is a T- or A-pose (iClone exports, whose
   bones carry their bind orientation in the channels so the zero pose is not a body), else the zero pose
   anyway: such rigs align every bone with one local axis and no roll, so a bone pointing the opposite way
   from SMPL's (a leg pointing up) is turned through the frontal plane, which keeps the front in front.
3. From the reference: up = head - pelvis snapped to an axis, left = left minus right hip and shoulder
   snapped to an axis across it; M takes source world axes to the project's (up +Z, left +X, forward -Y).
4. Per SMPL joint j driven by source joint s: D = M·G[s]·G_ref[s]ᵀ·Mᵀ is the world rotation away from the
   reference pose; C[j] is the smallest rotation taking SMPL's rest bone (j -> primary child) onto the
   source's reference bone (through M), after turning by the reference's heading so that vertical bones
   keep their twist; W[j] = D·C[j]. Unmapped SMPL joints follow their parent; local = world_to_local(W).
5. Root: the source pelvis position through M, scaled by SMPL leg length / source leg length (which also
   converts units; the unit itself is detected for the report), resampled (slerp) and grounded so that the
   low percentile of the lowest foot joint over the clip is at z = 0.

Leading frames that are an added pose (Hahne's and cgspeed's T-pose, iClone's bind pose) are dropped: they
sit close to the reference pose and the motion jumps away from it far faster than anywhere else in the clip
(cgspeed repeats its T-pose for up to 5 frames, Hahne blends out of it over a few).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ..errors import InputError
from ..motion import rotations as R
from .asf_amc import read_asf_amc
from .bvh import parse_bvh
from ..rig.bone_names import BoneMapError, build_joint_map, missing_required
from ..motion.kinematics import forward_kinematics, world_to_local
from ..motion.motion import Motion, MotionFileError
from .reference_pose import find_reference
from ..motion.skeleton import (FOOT_JOINTS, JOINT_INDEX, JOINT_NAMES, PARENTS, PRIMARY_CHILD, REST_OFFSETS,
                               rest_joint_positions)

# metres per file unit; CMU's Acclaim unit is 1/0.45 inch (its BVH conversions kept it)
LENGTH_UNITS: dict[str, float] = {"m": 1.0, "dm": 0.1, "cmu": 0.0254 / 0.45, "inch": 0.0254, "cm": 0.01, "mm": 0.001}
_TYPICAL_LEG_M = 0.82  # hip to ankle of an adult
GROUND_PERCENTILE = 5.0
# leading frames count as an added pose when they stay within _NEAR_REF of the reference pose (median over
# joints, relative to the pelvis) and then the pose jumps by more than _JUMP and _RATIO times the clip's
# median change per frame (jumps measured as the 75th percentile over joints, so one glitching joint does
# not count), within the first _WINDOW seconds
_ADDED_POSE_NEAR_REF_DEG = 12.0
_ADDED_POSE_JUMP_DEG = 10.0
_ADDED_POSE_RATIO = 4.0
_ADDED_POSE_WINDOW_S = 0.05
_FLIP_DEG = 120.0  # rest bones further apart than this are turned through the frontal plane first


@dataclass
class ImportInfo:
    """What the importer found (for reports and UI): naming scheme, units, frames used."""

    path: str
    format: str  # "bvh" or "asf+amc"
    joint_map_name: str
    joint_map: dict[str, str]
    unit: str
    source_fps: float
    source_frames: int
    dropped_frames: int  # leading frames that were an added T-pose
    reference: str  # which pose the bones were measured against (``find_reference``), e.g. "frame 0 (T/A-pose)"
    up_axis: str  # e.g. "+Y" in source axes
    left_axis: str
    scale: float  # file units -> metres applied to the root (SMPL leg / source leg)
    notes: list[str] = field(default_factory=list)


def detect_length_unit(leg_length: float) -> tuple[str, float]:
    """The unit in which a hip-to-ankle length of ``leg_length`` is most plausibly an adult's leg."""
    if not leg_length > 0:
        raise InputError(f"leg length must be positive, got {leg_length}")
    name = min(LENGTH_UNITS, key=lambda u: abs(math.log(leg_length * LENGTH_UNITS[u] / _TYPICAL_LEG_M)))
    return name, LENGTH_UNITS[name]


def load_source(path: str | os.PathLike, asf: str | os.PathLike | None = None, source_fps: float | None = None):
    """Parse a BVH or AMC (+ASF) file into a skeleton with ``names``, ``parents``, ``offsets``, ``end_sites``,
    ``fps``, ``local_rotations()`` and ``root_positions()``."""
    from . import limits

    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such motion file")
    if source_fps is not None:
        limits.check_rate(path, float(source_fps), "the given source frame rate")
    suffix = path.suffix.lower()
    if suffix == ".amc":
        return read_asf_amc(path, asf, fps=source_fps or 120.0), "asf+amc"
    if suffix == ".asf":
        raise MotionFileError(f"{path}: an ASF holds only the skeleton; open the .amc motion file instead")
    source = parse_bvh(path)
    if source_fps:
        source.frame_time = 1.0 / source_fps
    return source, "bvh"


def read_motion(path: str | os.PathLike, mapping: Mapping[str, str | None] | None = None, *, fps: float = 30.0,
                asf: str | os.PathLike | None = None, source_fps: float | None = None) -> Motion:
    """Import a humanoid BVH or ASF+AMC file as a Motion on the SMPL skeleton at ``fps``.

    ``mapping`` ({smpl_joint: source_joint}, None to unmap) merges over the auto-detected joint map; ``asf``
    names the skeleton for an AMC (found next to it otherwise); ``source_fps`` overrides the file's rate
    (AMC files have none: 120, CMU's, is assumed)."""
    return read_motion_with_info(path, mapping, fps=fps, asf=asf, source_fps=source_fps)[0]


def read_motion_with_info(path: str | os.PathLike, mapping: Mapping[str, str | None] | None = None, *,
                          fps: float = 30.0, asf: str | os.PathLike | None = None,
                          source_fps: float | None = None) -> tuple[Motion, ImportInfo]:
    source, fmt = load_source(path, asf, source_fps)
    return to_smpl(source, path, mapping, fps=fps, fmt=fmt)


def _snap(v: np.ndarray, exclude: int | None = None) -> tuple[int, float]:
    mag = np.abs(v).astype(np.float64)
    if exclude is not None:
        mag[exclude] = -1.0
    axis = int(mag.argmax())
    return axis, float(np.sign(v[axis]) or 1.0)


def _axis_name(axis: int, sign: float) -> str:
    return ("+" if sign > 0 else "-") + "XYZ"[axis]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rotation angle (radians) between batches of rotation matrices."""
    cos = ((a * b).sum((-1, -2)) - 1) / 2
    return torch.arccos(cos.clamp(-1.0, 1.0))


def to_smpl(source, path: str | os.PathLike, mapping: Mapping[str, str | None] | None = None, *,
             fps: float = 30.0, fmt: str = "bvh") -> tuple[Motion, ImportInfo]:
    names = list(source.names)
    try:
        map_name, joint_map = build_joint_map(names, mapping)
    except BoneMapError as exc:
        raise MotionFileError(f"{path}: bad joint mapping: {exc}") from None
    missing = missing_required(joint_map)
    if missing:
        raise MotionFileError(
            f"{path}: cannot map SMPL joints {', '.join(missing)} onto this skeleton (closest naming scheme: "
            f"{map_name}; file joints: {', '.join(names[:40])}{' ...' if len(names) > 40 else ''}). "
            "Pass mapping={smpl_joint: file_joint} for them.")
    idx = {JOINT_INDEX[k]: names.index(v) for k, v in joint_map.items()}
    parents = list(source.parents)
    offsets = torch.from_numpy(np.asarray(source.offsets, dtype=np.float64))
    local = source.local_rotations().double()
    frames = local.shape[0]
    if frames < 1:
        raise MotionFileError(f"{path}: the file has no frames")
    pos, world = forward_kinematics(local, torch.from_numpy(source.root_positions()).double(), offsets, parents)
    pos_np = pos.numpy()

    eye = torch.eye(3, dtype=torch.float64).expand(1, len(names), 3, 3)
    rest_pos = forward_kinematics(eye, torch.zeros(1, 3, dtype=torch.float64), offsets, parents)[0][0].numpy()
    ref = find_reference(path, rest_pos, eye[0], pos_np, world, idx)
    ref_pos, ref_rot = ref.pos, ref.rot

    # change of frame from the reference pose: up -> +Z, character's left -> +X, forward -> -Y
    up_raw = ref.up if ref.up is not None else ref_pos[idx[JOINT_INDEX["head"]]] - ref_pos[idx[0]]
    left_raw = sum(ref_pos[idx[JOINT_INDEX[f"left_{p}"]]] - ref_pos[idx[JOINT_INDEX[f"right_{p}"]]]
                   for p in ("hip", "shoulder"))
    if np.linalg.norm(up_raw) < 1e-9 or np.linalg.norm(left_raw) < 1e-9:
        raise MotionFileError(f"{path}: cannot tell up and left from the reference pose (head on the pelvis or "
                              "left and right hips in one place)")
    up_axis, up_sign = _snap(up_raw)
    left_axis, left_sign = _snap(left_raw - (left_raw @ _unit(up_raw)) * _unit(up_raw), exclude=up_axis)
    up, left = np.zeros(3), np.zeros(3)
    up[up_axis], left[left_axis] = up_sign, left_sign
    forward = np.cross(left, up)
    m = np.stack([left, -forward, up])
    # an animation frame as reference need not face an axis: its own heading is taken out of the corrections
    lp = m @ left_raw
    yaw = math.atan2(lp[1], lp[0]) if ref.frame is not None else 0.0
    heading = R.axis_rotation("Z", torch.tensor(yaw, dtype=torch.float64)).numpy()

    # size: legs decide both the unit (for the report) and the scale onto SMPL
    src_leg = np.mean([np.linalg.norm(ref_pos[idx[JOINT_INDEX[f"{s}_knee"]]] - ref_pos[idx[JOINT_INDEX[f"{s}_hip"]]])
                       + np.linalg.norm(ref_pos[idx[JOINT_INDEX[f"{s}_ankle"]]] - ref_pos[idx[JOINT_INDEX[f"{s}_knee"]]])
                       for s in ("left", "right")])
    smpl_leg = np.mean([np.linalg.norm(REST_OFFSETS[JOINT_INDEX[f"{s}_knee"]])
                        + np.linalg.norm(REST_OFFSETS[JOINT_INDEX[f"{s}_ankle"]]) for s in ("left", "right")])
    if not src_leg > 0:
        raise MotionFileError(f"{path}: the legs have zero length in the reference pose")
    if hasattr(source, "length_unit_m"):
        unit_name, unit_m = "cmu" if abs(source.length_unit_m - LENGTH_UNITS["cmu"]) < 1e-9 else "asf", source.length_unit_m
    else:
        unit_name, unit_m = detect_length_unit(src_leg)
    scale = smpl_leg / src_leg

    # rest corrections C[j]: SMPL rest bone -> source reference bone, both in project axes
    smpl_rest = rest_joint_positions()
    ref_p = ref_pos @ m.T
    corrections: dict[int, np.ndarray] = {}
    for j, s in idx.items():
        smpl_dir = src_dir = None
        d = PRIMARY_CHILD.get(j)
        while d is not None:
            if d in idx:
                v = ref_p[idx[d]] - ref_p[s]
                if np.linalg.norm(v) > 0.02 * src_leg:  # coincident joints (CMU's Neck on Spine1): look further
                    smpl_dir, src_dir = smpl_rest[d] - smpl_rest[j], v
                    break
            d = PRIMARY_CHILD.get(d)
        if src_dir is None and j in PRIMARY_CHILD:
            # SMPL has a bone here but the source maps nothing below (Hahne's feet have no toes): use the
            # source joint's only child or end site
            tips = [ref_p[k] - ref_p[s] for k, p in enumerate(parents) if p == s]
            if s in source.end_sites:
                tips.append(m @ (ref_rot[s].numpy() @ np.asarray(source.end_sites[s], dtype=np.float64)))
            tips = [t for t in tips if np.linalg.norm(t) > 0.02 * src_leg]
            if len(tips) == 1:
                smpl_dir, src_dir = smpl_rest[PRIMARY_CHILD[j]] - smpl_rest[j], tips[0]
        corrections[j] = heading if src_dir is None else _correction(heading @ smpl_dir, src_dir) @ heading

    start = _added_pose_frames(world, ref_rot, idx, source.fps) if ref.tpose else 0
    mt = torch.from_numpy(m)
    w = torch.empty((frames - start, len(JOINT_NAMES), 3, 3), dtype=torch.float64)
    for j in range(len(JOINT_NAMES)):
        if j in idx:
            s = idx[j]
            delta = mt @ world[start:, s] @ ref_rot[s].T @ mt.T
            w[:, j] = delta @ torch.from_numpy(corrections[j])
        else:
            w[:, j] = w[:, PARENTS[j]]
    local_smpl = world_to_local(w)
    trans = (pos_np[start:, idx[0]] @ m.T) * scale
    motion = Motion.from_matrices(local_smpl.float(), trans, source.fps)
    motion = motion.at_fps(fps)
    motion = ground(motion)
    _check_upright(path, motion, ref.label)
    info = ImportInfo(str(path), fmt, map_name, joint_map, unit_name, float(source.fps), frames, start,
                      ref.label, _axis_name(up_axis, up_sign), _axis_name(left_axis, left_sign), float(scale))
    leg_m = src_leg * unit_m
    if not 0.4 < leg_m < 1.4:
        info.notes.append(f"source legs measure {leg_m:.2f} m in the detected unit {unit_name}: odd proportions?")
    return motion, info


def _check_upright(path, motion: Motion, reference: str) -> None:
    """Refuse a result that lies or stands on its head throughout: a standing performer shows a head well
    above the feet at some point, and above the pelvis much of the time (squats, bows and lying down too)."""
    pos = motion.joint_positions()
    head, pelvis = pos[:, JOINT_INDEX["head"], 2], pos[:, 0, 2]
    ankles = pos[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]], 2].min(axis=1)
    if (head > pelvis).mean() < 0.2 and (head - ankles).max() < 1.0:
        raise MotionFileError(f"{path}: imported with the {reference} as reference, the body lies or stands on its "
                              "head throughout; the file's skeleton convention was not understood (check its rest "
                              "pose, or give a file that starts with a T-pose)")


def _correction(smpl_dir: np.ndarray, src_dir: np.ndarray) -> np.ndarray:
    """Smallest rotation taking SMPL's rest bone onto the source's; a bone pointing (nearly) the other way is
    first turned half a turn about the forward axis (through the frontal plane): the smallest rotation is
    undefined there, and this choice keeps knees and the face pointing forward."""
    a, b = _unit(np.asarray(smpl_dir, np.float64)), _unit(np.asarray(src_dir, np.float64))
    flip = np.eye(3)
    if a @ b < math.cos(math.radians(_FLIP_DEG)):
        flip = np.diag([-1.0, 1.0, -1.0])  # 180 degrees about Y, the project's forward/back axis
        a = flip @ a
    return R.rotation_between(torch.from_numpy(a), torch.from_numpy(b)).numpy() @ flip


def _added_pose_frames(world: torch.Tensor, ref_rot: torch.Tensor, idx: dict[int, int], fps: float) -> int:
    """How many leading frames are an added reference pose (see the module docstring)."""
    frames = world.shape[0]
    window = max(2, int(round(_ADDED_POSE_WINDOW_S * fps)))
    if frames <= window + 2:
        return 0
    ids = sorted(set(idx.values()))
    g = world[:, ids]
    jumps = torch.quantile(_angles(g[1:], g[:-1]), 0.75, dim=-1).rad2deg()
    typical = float(jumps.median())
    head = world[:window + 1]
    rel = head[:, idx[0]].transpose(-1, -2)[:, None] @ head[:, ids]
    rel_ref = ref_rot[idx[0]].T @ ref_rot[ids]
    near = _angles(rel, rel_ref).rad2deg().median(dim=-1).values
    count = 0
    for k in range(window):
        if float(near[k]) >= _ADDED_POSE_NEAR_REF_DEG:
            break
        if float(jumps[k]) > max(_ADDED_POSE_JUMP_DEG, _ADDED_POSE_RATIO * typical):
            count = k + 1
    return count


def floor_level(motion: Motion, percentile: float = GROUND_PERCENTILE) -> float:
    """Where the clip's floor is: the low percentile over the clip of its lowest foot joint's height."""
    return float(np.percentile(motion.joint_positions()[:, FOOT_JOINTS, 2].min(axis=1), percentile))


def ground(motion: Motion, percentile: float = GROUND_PERCENTILE) -> Motion:
    """Shift the clip vertically so its ``floor_level`` is at z = 0 (one shift per clip: jumps stay in the
    air, a few noisy frames may dip below)."""
    trans = motion.translation.copy()
    trans[:, 2] -= floor_level(motion, percentile)
    return Motion(motion.rotations, trans, motion.fps)
