"""Whether a prompt asks for both feet to leave the ground, and how high each latent-bank window leaves it.

Why a rule beside the learned ranking: a training text names a whole trial, and a trial of jumps also holds the
run-ups, landings and pauses between them. "jump up to grab something" drew a window of its trial between two
jumps (only a third of that family's real windows have both feet 10 cm up), so it reached up without leaving the
floor. Each bank window keeps how high its decoding gets both feet off the ground, and a prompt that names a jump,
hop or leap raises the windows that fly (``LatentBank.nearest``'s ``flight_scores``), as ``travel.py`` does for
directions.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..motion.skeleton import FOOT_JOINTS

FULL_FLIGHT_M = 0.10  # both feet this high count fully (the prompt suite's jump criterion)
_FLIGHT_WORDS = re.compile(r"\b(?:jump(?:s|ed|ing)?|hop(?:s|ped|ping)?|leap(?:s|t|ed|ing)?)\b")


def asks_for_flight(prompt: str) -> bool:
    """True when ``prompt`` names a jump, hop or leap ("jump up to grab something", "hopping", "he leapt")."""
    return bool(_FLIGHT_WORDS.search(prompt.lower()))


def window_flight(positions: np.ndarray) -> float:
    """How high (m) the lower foot joint rises above the window's lowest foot height, at its highest: above
    zero only when both feet are off the ground at once. Measured against the window's own floor, since a
    decoded window need not stand on z = 0."""
    feet = positions[:, FOOT_JOINTS, 2]
    return float(feet.min(axis=1).max() - feet.min())


def flight_scores(flight: torch.Tensor) -> torch.Tensor:
    """(N,) in [0, 1]: each window's flight as a share of ``FULL_FLIGHT_M``."""
    return (flight.float() / FULL_FLIGHT_M).clamp(0, 1)
