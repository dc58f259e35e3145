"""Acclaim ASF (skeleton) + AMC (motion) files, as recorded by the CMU motion capture lab.

Parsed by hand: the PyPI readers (``amc_parser`` copies, ``acclaim``) build per-frame Python dicts of
per-bone matrices, which is slow for minutes of 120 fps capture, and none exposes the skeleton in the
joint-tree form the rest of the importer works with. The format is small: an ASF lists bones (direction and
length in world axes at rest, a local axis frame C given as Euler angles, the rotational dofs), an AMC lists
per frame one line per bone with the dof values.

The result, :class:`AcclaimSkeleton`, mirrors ``bvh.BvhSkeleton``'s interface (names, parents, offsets,
end_sites, fps, ``local_rotations()``, ``root_positions()``) so ``mocap`` treats both alike. Joint k sits at
the *start* of bone k (as a BVH joint sits where its rotation acts): its offset is its parent bone's vector,
its rest rotation is identity in world axes, and its local rotation per frame is ``C · E · C⁻¹`` where E
composes the listed dofs in the order they are listed (CMU always lists rx ry rz, i.e. E = Rz·Ry·Rx).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..motion import rotations as R
from .bvh import channel_slices
from ..motion.motion import MotionFileError

# CMU states ":units length 0.45" means the file's lengths are in units of 1/0.45 inch.
INCH = 0.0254


@dataclass
class AcclaimSkeleton:
    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3) rest vector parent joint -> joint, file units, world axes
    axes: np.ndarray  # (J, 3, 3) the bone's local frame C (world axes)
    dofs: list[list[str]]  # per joint, the AMC value order, e.g. ["rx", "ry", "rz"]; root: its :root order
    bone_vectors: np.ndarray  # (J, 3) direction * length of each bone (root: zero)
    length_unit_m: float = INCH / 0.45  # metres per file length unit
    angle_in_degrees: bool = True
    fps: float = 120.0
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (frames, channels)
    root_axis: str = "XYZ"  # the order the root's rotations apply in (its values come in :root order)

    @property
    def end_sites(self) -> dict[int, np.ndarray]:
        """Leaf joints -> their bone's end (so leaves have a direction, as BVH end sites give)."""
        has_child = set(p for p in self.parents if p >= 0)
        return {j: self.bone_vectors[j] for j in range(len(self.names)) if j not in has_child and j > 0}

    def channel_slices(self) -> list[slice]:
        return channel_slices(self.dofs)

    def local_rotations(self) -> torch.Tensor:
        """(frames, J, 3, 3) local rotations C·E·C⁻¹ in world axes (rest = identity)."""
        frames = self.motion.shape[0]
        data = torch.from_numpy(self.motion)
        if self.angle_in_degrees:
            data = torch.deg2rad(data)
        mats = torch.eye(3, dtype=torch.float64).repeat(frames, len(self.names), 1, 1)
        axes = torch.from_numpy(self.axes)
        for j, (dofs, sl) in enumerate(zip(self.dofs, self.channel_slices())):
            rot = [(d[1].upper(), sl.start + i) for i, d in enumerate(dofs) if d[0] == "r"]
            if not rot:
                continue
            if j == 0:  # the root applies its rotations in its "axis" order, whatever order they are stored in
                cols = dict(rot)
                rot = [(a, cols[a]) for a in self.root_axis.upper() if a in cols]
            # the first listed dof is applied first, so it is the rightmost factor
            e = torch.eye(3, dtype=torch.float64).expand(frames, 3, 3)
            for axis, col in rot:
                e = R.axis_rotation(axis, data[:, col]) @ e
            mats[:, j] = axes[j] @ e @ axes[j].T
        return mats

    def root_positions(self) -> np.ndarray:
        """(frames, 3) root translation in file units, world axes."""
        pos = np.repeat(self.offsets[0][None], self.motion.shape[0], axis=0).astype(np.float64)
        sl = self.channel_slices()[0]
        for i, d in enumerate(self.dofs[0]):
            if d[0] == "t":
                pos[:, "xyz".index(d[1])] = self.motion[:, sl.start + i]
        return pos


def _axis_frame(angles: list[float], order: str, degrees: bool = True) -> np.ndarray:
    """ASF ``axis a b c XYZ``: rotations applied about X, then Y, then Z, i.e. C = Rz·Ry·Rx. The angles are in
    the file's ``:units angle`` (degrees unless it says rad)."""
    ang = torch.tensor(angles, dtype=torch.float64)
    if degrees:
        ang = torch.deg2rad(ang)
    c = torch.eye(3, dtype=torch.float64)
    for a, axis in zip(ang, order.upper()):
        c = R.axis_rotation(axis, a) @ c
    return c.numpy()


def parse_asf(path: str | os.PathLike) -> AcclaimSkeleton:
    from . import limits

    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such ASF skeleton file")
    limits.check_file_size(path)
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()  # -sig: a BOM is no token
    except OSError as exc:
        raise MotionFileError(f"{path}: cannot read ASF skeleton ({exc})") from None
    section = ""
    length_scale, degrees = 1.0, True
    root_order: list[str] = []
    root_axis, root_pos, root_orient = "XYZ", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    bones: dict[str, dict] = {}
    current: dict | None = None
    hierarchy: list[tuple[str, list[str]]] = []
    try:
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            tok = line.split()
            if tok[0].startswith(":"):
                section = tok[0].lower()
                continue
            key = tok[0].lower()
            if section == ":units":
                if key == "length":
                    length_scale = float(tok[1])
                elif key == "angle":
                    degrees = tok[1].lower().startswith("deg")
            elif section == ":root":
                if key == "order":
                    root_order = [t.lower() for t in tok[1:]]
                elif key == "axis":
                    root_axis = tok[1]
                elif key == "position":
                    root_pos = [float(t) for t in tok[1:4]]
                elif key == "orientation":
                    root_orient = [float(t) for t in tok[1:4]]
            elif section == ":bonedata":
                if key == "begin":
                    current = {"dof": [], "axis": ([0.0, 0.0, 0.0], "XYZ"), "direction": [0.0, 0.0, 0.0],
                               "length": 0.0}
                elif key == "end":
                    bones[current["name"]] = current
                    current = None
                elif current is not None and key == "name":
                    current["name"] = tok[1]
                elif current is not None and key == "direction":
                    current["direction"] = [float(t) for t in tok[1:4]]
                elif current is not None and key == "length":
                    current["length"] = float(tok[1])
                elif current is not None and key == "axis":
                    current["axis"] = ([float(t) for t in tok[1:4]], tok[4] if len(tok) > 4 else "XYZ")
                elif current is not None and key == "dof":
                    current["dof"] = [t.lower() for t in tok[1:]]
            elif section == ":hierarchy" and key not in ("begin", "end"):
                hierarchy.append((tok[0], tok[1:]))
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise MotionFileError(f"{path}: malformed ASF skeleton ({exc!r})") from None
    if not bones or not hierarchy:
        raise MotionFileError(f"{path}: not an ASF skeleton (no :bonedata or :hierarchy)")

    children: dict[str, list[str]] = {}
    for parent, kids in hierarchy:
        children.setdefault(parent, []).extend(kids)
    # breadth-first from the root so parents precede children (what forward kinematics expects)
    names, parents = ["root"], [-1]
    queue = ["root"]
    while queue:
        parent = queue.pop(0)
        for kid in children.get(parent, []):
            if kid not in bones:
                raise MotionFileError(f"{path}: ASF hierarchy names bone {kid!r} that :bonedata does not define")
            if kid in names:  # a loop, or a bone under two parents: the walk would never end
                raise MotionFileError(f"{path}: ASF hierarchy reaches bone {kid!r} twice (a loop or two parents)")
            names.append(kid)
            parents.append(names.index(parent))
            queue.append(kid)
    vectors = np.zeros((len(names), 3))
    axes = np.zeros((len(names), 3, 3))
    dofs: list[list[str]] = [root_order or ["tx", "ty", "tz", "rx", "ry", "rz"]]
    axes[0] = _axis_frame(root_orient, root_axis, degrees)  # the rest orientation, applied like a bone's axis
    for j, name in enumerate(names[1:], start=1):
        b = bones[name]
        direction = np.asarray(b["direction"], dtype=np.float64)
        vectors[j] = direction / max(np.linalg.norm(direction), 1e-12) * b["length"]
        axes[j] = _axis_frame(*b["axis"], degrees)
        dofs.append(b["dof"])
    offsets = np.zeros((len(names), 3))
    offsets[0] = root_pos
    for j, p in enumerate(parents):
        if p >= 0:
            offsets[j] = vectors[p]  # a bone starts where its parent bone ends
    return AcclaimSkeleton(names, parents, offsets, axes, dofs, vectors, INCH / length_scale, degrees,
                           root_axis=root_axis)


def parse_amc(path: str | os.PathLike, skeleton: AcclaimSkeleton, fps: float = 120.0) -> AcclaimSkeleton:
    """Fill ``skeleton`` with the frames of an AMC file (returns a new skeleton; the input is untouched).

    AMC files carry no frame rate: CMU's are 120 fps, hence the default."""
    from . import limits

    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such AMC file")
    limits.check_file_size(path)
    limits.check_rate(path, fps)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    degrees = skeleton.angle_in_degrees
    body: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith(":"):
            if s.upper() in (":DEGREES", ":RADIANS"):
                degrees = s.upper() == ":DEGREES"
            continue
        body.append(s)
    # frames start at lines holding only a frame number
    starts = [i for i, s in enumerate(body) if s.isdigit()]
    if not starts:
        raise MotionFileError(f"{path}: not an AMC motion file (no frame numbers)")
    if starts[0] != 0:
        raise MotionFileError(f"{path}: not an AMC motion file ({body[0][:40]!r} before the first frame number)")
    index = {n: j for j, n in enumerate(skeleton.names)}
    slices = skeleton.channel_slices()
    n_ch = slices[-1].stop
    first = body[starts[0] + 1:(starts[1] if len(starts) > 1 else len(body))]
    frames = len(starts)
    limits.check_duration(path, frames, fps)
    table = np.zeros((frames, n_ch))
    # fast path: every frame lists the same bones in the same order (CMU files do), so the tokens form
    # a regular grid and one numpy conversion reads them all
    width = len(first) + 1
    if len(body) == frames * width and all(body[k * width].isdigit() for k in range(frames)):
        layout = [ln.split()[0] for ln in first]
        counts = [len(ln.split()) - 1 for ln in first]
        if any(name not in index for name in layout):
            bad = next(name for name in layout if name not in index)
            raise MotionFileError(f"{path}: AMC names bone {bad!r} that the ASF skeleton does not have")
        grid = np.array(" ".join(body).split())
        per_frame = 1 + sum(c + 1 for c in counts)
        if grid.size == frames * per_frame:
            grid = grid.reshape(frames, per_frame)
            name_cols, value_cols, dest = [], [], []
            pos = 1
            for name, c in zip(layout, counts):
                sl = slices[index[name]]
                if c != sl.stop - sl.start:
                    raise MotionFileError(f"{path}: bone {name!r} has {c} values, the ASF lists {sl.stop - sl.start} dofs")
                name_cols.append(pos)
                value_cols.extend(range(pos + 1, pos + 1 + c))
                dest.extend(range(sl.start, sl.stop))
                pos += c + 1
            if (grid[:, name_cols] == np.array(layout)).all():
                try:
                    table[:, dest] = grid[:, value_cols].astype(np.float64)
                except ValueError:
                    raise MotionFileError(f"{path}: non-numeric value in the AMC frames") from None
                return _with_motion(skeleton, table, fps, degrees)
    # general path (irregular files; also where truncation is detected)
    bounds = starts + [len(body)]
    for f in range(frames):
        seen = set()
        for ln in body[bounds[f] + 1:bounds[f + 1]]:
            tok = ln.split()
            j = index.get(tok[0])
            if j is None:
                raise MotionFileError(f"{path}: frame {f + 1}: unknown bone {tok[0]!r}")
            sl = slices[j]
            if len(tok) - 1 != sl.stop - sl.start:
                raise MotionFileError(
                    f"{path}: frame {f + 1}: bone {tok[0]!r} has {len(tok) - 1} values, expected {sl.stop - sl.start}"
                    " (truncated or corrupt file)")
            try:
                table[f, sl] = [float(t) for t in tok[1:]]
            except ValueError:
                raise MotionFileError(f"{path}: frame {f + 1}: non-numeric value for bone {tok[0]!r}") from None
            seen.add(j)
        if f > 0 and len(seen) < len(first):
            raise MotionFileError(
                f"{path}: frame {f + 1} lists {len(seen)} bones, the first frame {len(first)} (truncated file?)")
    return _with_motion(skeleton, table, fps, degrees)


def _with_motion(skeleton: AcclaimSkeleton, table: np.ndarray, fps: float, degrees: bool) -> AcclaimSkeleton:
    return AcclaimSkeleton(skeleton.names, skeleton.parents, skeleton.offsets, skeleton.axes, skeleton.dofs,
                           skeleton.bone_vectors, skeleton.length_unit_m, degrees, float(fps), table,
                           skeleton.root_axis)


def find_asf(amc_path: str | os.PathLike) -> Path:
    """The ASF belonging to an AMC: ``SS.asf`` for ``SS_TT.amc`` next to it or in a sibling ``asf/`` folder,
    ``<stem>.asf``, or the only ASF in the folder."""
    amc = Path(amc_path)
    subject = amc.stem.split("_")[0]
    candidates = [amc.with_suffix(".asf"), amc.parent / f"{subject}.asf", amc.parent / "asf" / f"{subject}.asf",
                  amc.parent.parent / "asf" / f"{subject}.asf"]
    for c in candidates:
        if c.is_file():
            return c
    local = sorted(amc.parent.glob("*.asf"))
    if len(local) == 1:
        return local[0]
    raise MotionFileError(
        f"{amc}: cannot find its ASF skeleton (tried {', '.join(str(c) for c in candidates)}); pass asf=...")


def read_asf_amc(amc_path: str | os.PathLike, asf_path: str | os.PathLike | None = None,
                 fps: float = 120.0) -> AcclaimSkeleton:
    asf = Path(asf_path) if asf_path is not None else find_asf(amc_path)
    return parse_amc(amc_path, parse_asf(asf), fps)
