"""Which way a prompt asks the body to travel, and which way each latent-bank window travels.

Why a rule beside the learned ranking: the training texts name a whole trial ("navigate, walk forward,
backward, sideways" is one label over 15 s of walking in every direction), so the text space cannot tell its
backward stretch from its forward one, and "walk backwards" decoded a forward walk. Each bank window's travel
is measured from its own motion (pelvis displacement over the window in the body's facing), and a prompt
that names a direction of travel raises the windows going that way (``LatentBank.nearest``'s
``travel_scores``). Only explicit travel words count: "turn left" turns, "the left hand" is a hand.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..motion.heading import heading_from_positions

MOVING_M_S = 0.3  # a window travelling slower than this counts in proportion: standing still is no direction

# Locomotion words (verbs and the nouns of the same actions): a direction counts only beside one of these, so
# "lean forward", "turn left" and "circle the arms backwards" ask for no travel.
_MOVES = ("walk", "step", "move", "go", "run", "jog", "hop", "jump", "leap", "skip", "shuffle", "sneak", "creep",
          "tiptoe", "stroll", "march", "crawl", "sidestep", "side step", "strafe")
_MOVE = r"(?:" + "|".join(w + r"(?:s|es|ed|ing|ping|ning)?" for w in _MOVES) + r")"
# (forward, left) directions in the body's frame; None = sideways, either way
_DIRECTIONS = (
    (r"backwards?|back|in reverse", (-1.0, 0.0)),
    (r"forwards?|forth|ahead", (1.0, 0.0)),
    (r"(?:to the |to your )?left|leftwards?", (0.0, 1.0)),
    (r"(?:to the |to your )?right|rightwards?", (0.0, -1.0)),
    (r"sideways|to the side", None),
)
_SIDEWAYS_MOVES = r"\bside ?(?:steps?|stepping|stepped)\b|\bstrafe[sd]?\b|\bstrafing\b"


def requested_directions(prompt: str) -> list[tuple[float, float] | None]:
    """The directions of travel ``prompt`` names, in the body's frame as (forward, left) unit vectors, None
    for "sideways" (either side; dropped when a side is named too); [] when it names none. A direction counts
    after a locomotion word (up to two words between: "walk slowly backwards", "step back and forth") or
    before one ("backwards walk"); sidestep and strafe are sideways by themselves."""
    text = " ".join(prompt.lower().split())
    found = []
    for words, direction in _DIRECTIONS:
        after = rf"\b{_MOVE}\b(?:\s+\w+){{0,2}}?\s+(?:{words})\b"
        before = rf"\b(?:{words})\s+{_MOVE}\b"
        if re.search(after, text) or re.search(before, text):
            found.append(direction)
    if re.search(_SIDEWAYS_MOVES, text) and None not in found:
        found.append(None)
    if (0.0, 1.0) in found or (0.0, -1.0) in found:
        found = [d for d in found if d is not None]
    return found


def window_travel(positions: np.ndarray, fps: float) -> tuple[float, float]:
    """(forward, left) mean travel speed (m/s) of joint positions (F, 24, 3): the pelvis displacement from the
    first to the last frame in the body's mean facing over the window."""
    heading = heading_from_positions(positions)
    mean = np.arctan2(np.sin(heading).mean(), np.cos(heading).mean())
    forward = np.array([np.sin(mean), -np.cos(mean)])
    left = np.array([np.cos(mean), np.sin(mean)])
    shift = (positions[-1, 0, :2] - positions[0, 0, :2]) * fps / max(1, len(positions) - 1)
    return float(shift @ forward), float(shift @ left)


def travel_scores(travel: torch.Tensor, directions: list[tuple[float, float] | None]) -> torch.Tensor:
    """(N,) in [0, 1]: how well each window's travel (N, 2) goes one of ``directions`` (the best of them): the
    cosine of its travel to the direction (for sideways the share of its travel that is sideways), scaled down
    below ``MOVING_M_S``."""
    travel = travel.float()
    speed = travel.norm(dim=-1)
    unit = travel / speed.clamp_min(1e-6)[:, None]
    best = torch.zeros(len(travel))
    for direction in directions:
        if direction is None:
            fit = unit[:, 1].abs()
        else:
            fit = (unit @ torch.tensor(direction)).clamp_min(0)
        best = torch.maximum(best, fit)
    return best * (speed / MOVING_M_S).clamp(max=1.0)
