"""Reconstruction figures shared by ``evaluate`` and its yardstick (``linear_baseline``): the per-window errors and
their means per action family."""

from __future__ import annotations

import numpy as np


def reconstruction_errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float, float]:
    """(MPJPE, root-relative MPJPE, pelvis path error) in mm between joint positions (frames, 24, 3)."""
    mpjpe = float(np.linalg.norm(got - want, axis=-1).mean()) * 1000
    relative = float(np.linalg.norm((got - got[:, :1]) - (want - want[:, :1]), axis=-1).mean()) * 1000
    path = float(np.linalg.norm(got[:, 0] - want[:, 0], axis=-1).mean()) * 1000
    return mpjpe, relative, path


def family_means(windows, mpjpe: list[float]) -> dict[str, dict]:
    """{action family: {"windows": n, "mpjpe_mm": mean}} of per-window ``mpjpe`` (windows: dataset Clips).
    One performer's many takes can outweigh the rest of a split (the test split: 108 of 189 windows are one
    salsa dancer), so each family's share and error are reported beside the mean."""
    out = {}
    for family in sorted({w.family or "(none)" for w in windows}):
        own = [e for w, e in zip(windows, mpjpe) if (w.family or "(none)") == family]
        out[family] = {"windows": len(own), "mpjpe_mm": float(np.mean(own))}
    return out
