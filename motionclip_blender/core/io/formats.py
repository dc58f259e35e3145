"""Motion files by extension: the one place that knows which reader or writer a path needs (.npz, .bvh, .amc
with its .asf), used by the CLI, motion search and the render job."""

from __future__ import annotations

import os
from pathlib import Path

from ..motion.motion import Motion, MotionFileError

READ_SUFFIXES = (".npz", ".bvh", ".amc")


def read_any(path: str | os.PathLike, asf: str | os.PathLike | None = None, fps: float | None = None) -> Motion:
    """The Motion in ``path`` (.npz as saved, .bvh / .amc through the mocap importer), at ``fps`` when given
    (else the file's own rate for .npz, 30 for mocap). An .amc finds its .asf (``asf_amc.find_asf``) unless
    ``asf`` names it."""
    from .mocap import read_motion

    p = Path(path)
    suffix = p.suffix.lower()
    if asf and suffix != ".amc":
        raise MotionFileError(f"an .asf names the skeleton of an .amc file; {p.name} is a "
                              f"{suffix or 'file without suffix'}")
    if suffix == ".npz":
        from . import limits

        motion = Motion.load_npz(p)
        limits.check_rate(p, motion.fps)  # resampling a file that claims 1e-6 fps would build millions of frames
        limits.check_duration(p, len(motion), motion.fps)
        return motion if fps is None else motion.at_fps(fps)
    if suffix not in READ_SUFFIXES:
        raise MotionFileError(f"{p}: unsupported motion file type {suffix!r} (use .npz, .bvh or .amc)")
    kwargs = {} if fps is None else {"fps": fps}
    if asf:
        kwargs["asf"] = asf
    return read_motion(p, **kwargs)


def write_any(motion: Motion, path: str | os.PathLike) -> Path:
    """Write ``motion`` as .npz or .bvh (SMPL skeleton, Y-up) by the suffix of ``path``; returns the path."""
    from .bvh import write_bvh

    p = Path(path)
    if p.suffix.lower() == ".npz":
        motion.save_npz(p)
    elif p.suffix.lower() == ".bvh":
        write_bvh(motion, p)
    else:
        raise MotionFileError(f"{p}: output must end in .npz or .bvh")
    return p
