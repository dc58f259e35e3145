"""BVH files: a vectorised parser for any skeleton and a writer for the SMPL skeleton.

Hand-written rather than using ``bvhio``/``bvh`` from PyPI: those build Python objects per joint per
frame (slow for 120 fps trials of several minutes) and we need the raw channel table as one numpy
array plus exact channel orders; the format is small and fully specified by its header.

Written files use SMPL's Y-up frame (facing +Z), the de-facto BVH convention, which Blender's BVH
importer (forward -Z, up Y) brings in facing -Y, Z up: exactly this project's convention.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..motion import rotations as R
from ..motion.motion import Motion, MotionFileError, check_output_path
from ..motion.skeleton import JOINT_NAMES, PARENTS, REST_OFFSETS, SMPL_TO_BLENDER, leaf_tip

_ROT_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
_POS_CHANNELS = ("Xposition", "Yposition", "Zposition")


def channel_slices(groups: list) -> list[slice]:
    """Column ranges of consecutive channel groups (one group per joint) in a flat per-frame table."""
    out, start = [], 0
    for group in groups:
        out.append(slice(start, start + len(group)))
        start += len(group)
    return out


def rate_from_frame_time(frame_time: float) -> float:
    """Frames per second from a BVH frame time, which files store rounded (Blender writes 0.016667 for 60 fps,
    0.008333 for 120): a rate within 0.01 % of a whole one, or of an NTSC one (29.97 = 30000/1001 ...), is that
    rate; 0.01 % keeps 29.97 and 30 apart (0.1 %)."""
    rate = 1.0 / frame_time
    for exact in (round(rate), round(rate * 1.001) / 1.001):
        if exact > 0 and abs(rate - exact) <= 1e-4 * exact:
            return float(exact)
    return round(rate, 3)


@dataclass
class BvhSkeleton:
    """A parsed BVH: joint tree, rest offsets and the raw channel table (frames, channels)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3) file units, file axes
    channels: list[list[str]]  # per joint
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint -> end offset
    frame_time: float = 1 / 30
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def fps(self) -> float:
        return rate_from_frame_time(self.frame_time)

    def channel_slices(self) -> list[slice]:
        return channel_slices(self.channels)

    def local_rotations(self) -> torch.Tensor:
        """(frames, J, 3, 3) local rotation matrices from the Euler channels (file axes)."""
        frames = self.motion.shape[0]
        mats = torch.eye(3, dtype=torch.float64).repeat(frames, len(self.names), 1, 1)
        data = torch.from_numpy(self.motion)
        for j, (chans, sl) in enumerate(zip(self.channels, self.channel_slices())):
            rot = [(c[0], i) for i, c in enumerate(chans) if c in _ROT_CHANNELS]
            if not rot:
                continue
            cols = [sl.start + i for _, i in rot]
            angles = torch.deg2rad(data[:, cols])
            order = "".join(a for a, _ in rot)
            if len(order) == 3:
                mats[:, j] = R.euler_to_matrix(angles, order)
            else:  # fewer than three rotation channels: compose what is there, in file order
                for k, axis in enumerate(order):
                    mats[:, j] = mats[:, j] @ R.axis_rotation(axis, angles[:, k])
        return mats

    def root_positions(self) -> np.ndarray:
        """(frames, 3) root position channels (file units, file axes), rest offset if absent."""
        sl = self.channel_slices()[0]
        chans = self.channels[0]
        pos = np.repeat(self.offsets[0][None].astype(np.float64), self.motion.shape[0], axis=0)
        for i, c in enumerate(chans):
            if c in _POS_CHANNELS:
                pos[:, _POS_CHANNELS.index(c)] = self.motion[:, sl.start + i]
        return pos


def parse_bvh(path: str | os.PathLike) -> BvhSkeleton:
    """Parse any BVH. Every frame row must hold exactly the channels the hierarchy declares (a row with more
    or fewer values means a misread header, and reading on would shift every joint); frame rate, length and
    file size are bounded (``limits``)."""
    from . import limits

    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such BVH file")
    try:
        limits.check_file_size(path)
        text = path.read_text(encoding="utf-8-sig", errors="replace")  # -sig: a byte-order mark is no token
    except OSError as exc:
        raise MotionFileError(f"{path}: cannot read ({exc})") from None
    head, sep, body = text.partition("MOTION")
    tokens = head.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise MotionFileError(f"{path}: not a BVH file (no HIERARCHY header)")
    if not sep:
        raise MotionFileError(f"{path}: BVH has no MOTION section")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(path, tokens)
    n_ch = sum(len(c) for c in channels)
    if not names or n_ch == 0:
        raise MotionFileError(f"{path}: BVH has no joints or channels")
    if n_ch > limits.MAX_CHANNELS:
        raise MotionFileError(f"{path}: {n_ch} channels, more than the {limits.MAX_CHANNELS} a skeleton may have")
    lines = body.splitlines()
    try:
        frames_line = next(i for i, l in enumerate(lines) if l.strip())
        words = lines[frames_line].split() + lines[frames_line + 1].split()
        if words[0] != "Frames:" or words[2:4] != ["Frame", "Time:"] or len(words) != 5:
            raise ValueError("expected 'Frames: N' and 'Frame Time: T' lines")
        frames, frame_time = int(words[1]), float(words[4])
    except (StopIteration, IndexError, ValueError) as exc:
        raise MotionFileError(f"{path}: malformed MOTION header ({exc})") from None
    if frames <= 0:
        raise MotionFileError(f"{path}: BVH declares {frames} frames")
    if not frame_time > 0:
        raise MotionFileError(f"{path}: BVH frame time must be positive, got {frame_time}")
    limits.check_rate(path, 1.0 / frame_time)
    limits.check_duration(path, frames, 1.0 / frame_time)
    rows = [(frames_line + 3 + i, l) for i, l in enumerate(lines[frames_line + 2:]) if l.strip()]
    if len(rows) < frames:
        raise MotionFileError(f"{path}: BVH is truncated: the header says {frames} frames, the file has {len(rows)}")
    for k, (number, row) in enumerate(rows):
        count = len(row.split())
        if count < n_ch and k == len(rows) - 1:
            raise MotionFileError(f"{path}: BVH is truncated: its last frame row holds {count} of {n_ch} values")
        if count != n_ch:
            raise MotionFileError(f"{path}: line {number} of the MOTION section holds {count} values, "
                                  f"but the hierarchy declares {n_ch} channels per frame")
    if len(rows) > frames:
        raise MotionFileError(f"{path}: the header says {frames} frames, the file has {len(rows)} rows")
    try:
        values = np.array(" ".join(r for _, r in rows).split(), dtype=np.float64)
    except ValueError as exc:
        raise MotionFileError(f"{path}: non-numeric value in the frames ({exc})") from None
    if not np.isfinite(values).all():
        raise MotionFileError(f"{path}: the frames hold NaN or infinite values")
    return BvhSkeleton(names, parents, np.array(offsets), channels, end_sites, frame_time, values.reshape(frames, n_ch))


def _parse_hierarchy(path: Path, tokens: list[str]):
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []
    i = 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                if tok == "ROOT" and names:
                    raise MotionFileError(f"{path}: a second ROOT: only one skeleton per BVH is supported")
                # a name may hold spaces (3ds Max Biped: "Bip01 L Thigh"): its words up to the brace, joined
                # with underscores as Blender's BVH importer names the bone
                end = tokens.index("{", i + 1)
                if end == i + 1 or end - i - 1 > 8:
                    raise MotionFileError(f"{path}: {tok} {' '.join(tokens[i + 1:i + 4])!r}: a joint name and "
                                          "then '{' expected")
                names.append("_".join(tokens[i + 1:end]))
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i = end
            elif tok == "End":
                # End Site { OFFSET x y z }
                end_sites[stack[-1]] = np.array([float(t) for t in tokens[i + 4:i + 7]])
                i += 8
            elif tok == "{":
                stack.append(len(names) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[-1] = [float(t) for t in tokens[i + 1:i + 4]]
                if len(offsets[-1]) != 3 or not np.isfinite(offsets[-1]).all():
                    raise ValueError(f"OFFSET of {names[-1]} needs three finite numbers")
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                names_ = tokens[i + 2:i + 2 + n]
                unknown = [c for c in names_ if c not in _ROT_CHANNELS + _POS_CHANNELS]
                if n < 0 or len(names_) != n or unknown:
                    raise ValueError(f"CHANNELS of {names[-1]}: expected {n} of {_POS_CHANNELS + _ROT_CHANNELS}, "
                                     f"got {names_}")
                channels[-1] = names_
                i += 2 + n
            elif tok in _ROT_CHANNELS + _POS_CHANNELS:
                raise MotionFileError(f"{path}: channel {tok!r} of {names[-1] if names else 'no joint'} stands outside "
                                      f"its CHANNELS list: the CHANNELS count does not match the names after it")
            else:
                raise MotionFileError(f"{path}: unexpected token {tok!r} in the BVH hierarchy")
    except MotionFileError:
        raise
    except (IndexError, ValueError) as exc:
        raise MotionFileError(f"{path}: malformed BVH hierarchy ({exc})") from None
    if stack:
        raise MotionFileError(f"{path}: the BVH hierarchy has {len(stack)} unclosed braces")
    return names, parents, offsets, channels, end_sites


def write_bvh(motion: Motion, path: str | os.PathLike) -> None:
    """Write a Motion on the SMPL skeleton (joint names as in ``skeleton.JOINT_NAMES``), Y up."""
    to_file = SMPL_TO_BLENDER.T  # blender -> smpl frame
    offsets = REST_OFFSETS.astype(np.float64) @ to_file.T
    mats = motion.matrices().double()
    conv = torch.from_numpy(to_file)
    mats_file = conv @ mats @ conv.T
    euler = torch.rad2deg(R.matrix_to_euler(mats_file, "ZYX")).numpy()  # (F, 24, 3) as Z, Y, X
    trans = motion.translation.astype(np.float64) @ to_file.T
    children: dict[int, list[int]] = {j: [] for j in range(len(JOINT_NAMES))}
    for j, p in enumerate(PARENTS):
        if p >= 0:
            children[p].append(j)
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if PARENTS[j] < 0 else "JOINT"
        lines.append(f"{pad}{kind} {JOINT_NAMES[j]}")
        lines.append(f"{pad}{{")
        off = offsets[j] if PARENTS[j] >= 0 else np.zeros(3)
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        if PARENTS[j] < 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Yrotation Xrotation")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            tip = leaf_tip(j) @ to_file.T
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    # channel order follows the depth-first order in which joints were emitted
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in children[j]:
            visit(c)

    visit(0)
    table = [trans] + [euler[:, j] for j in order]
    rows = np.concatenate(table, axis=1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in rows]
    path = Path(path)
    check_output_path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_smpl_bvh(path: str | os.PathLike) -> Motion:
    """Read a BVH written on the SMPL skeleton (by :func:`write_bvh` or a tool using SMPL joint names).
    Other skeletons go through ``mocap.read_motion``, which maps and retargets them."""
    bvh = parse_bvh(path)
    missing = [n for n in JOINT_NAMES if n not in bvh.names]
    if missing:
        raise MotionFileError(f"{path}: not an SMPL-skeleton BVH; missing joints: {', '.join(missing)}")
    to_blender = torch.from_numpy(SMPL_TO_BLENDER)
    local = bvh.local_rotations()
    idx = [bvh.names.index(n) for n in JOINT_NAMES]
    mats = to_blender @ local[:, idx] @ to_blender.T
    trans = bvh.root_positions() @ SMPL_TO_BLENDER.T
    return Motion.from_matrices(mats.float(), trans, bvh.fps)
