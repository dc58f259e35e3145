"""Bounds for untrusted motion files: what a real capture can be, so a typo or a hostile file fails with a
message naming the file and the limit instead of taking minutes and gigabytes.

The numbers are far outside any real capture (3 hours at up to 1000 fps) and far inside what would exhaust
a workstation: the largest table allowed, 1.2 M frames of 1,000 channels, is never built, because the file
holding it would exceed the size limit first.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..motion.motion import MotionFileError

MAX_FILE_BYTES = 256 * 1024 * 1024
MIN_FPS, MAX_FPS = 1.0, 1000.0
MAX_SECONDS = 3 * 3600.0
MAX_CHANNELS = 1000


def check_file_size(path: Path) -> None:
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise MotionFileError(f"{path}: {size / 2**20:.0f} MB is larger than the {MAX_FILE_BYTES // 2**20} MB "
                              f"a motion file may be")


def check_rate(path: Path, fps: float, what: str = "frame rate") -> None:
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise MotionFileError(f"{path}: {what} of {fps:g} fps is outside {MIN_FPS:g}-{MAX_FPS:g} fps "
                              f"(a typo in 'Frame Time'?)")


def check_duration(path: Path, frames: int, fps: float) -> None:
    seconds = frames / fps
    if seconds > MAX_SECONDS:
        raise MotionFileError(f"{path}: {frames} frames at {fps:g} fps last {seconds / 3600:.1f} h, longer than the "
                              f"{MAX_SECONDS / 3600:g} h a motion file may last")
