"""Directions of travel: which a prompt names, which way a window goes, and how the bank weighs them."""

import numpy as np
import pytest
import torch

from motionclip_blender.core.model.bank import TRAVEL_WEIGHT, BankError, LatentBank
from motionclip_blender.core.model.travel import MOVING_M_S, requested_directions, travel_scores, window_travel
from motionclip_blender.core.motion.skeleton import JOINT_INDEX

BACK, FORWARD, LEFT, RIGHT, SIDEWAYS = (-1.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, -1.0), None


@pytest.mark.parametrize("prompt, expected", [
    ("walk backwards", [BACK]),
    ("a person walks slowly backward", [BACK]),
    ("backwards walk", [BACK]),
    ("step back and forth", [BACK, FORWARD]),
    ("walk backwards and sideways", [BACK, SIDEWAYS]),
    ("sidestep to the right", [RIGHT]),  # a named side wins over "either side"
    ("strafe left", [LEFT]),
    ("a person sidesteps", [SIDEWAYS]),
    ("walking to your right", [RIGHT]),
    ("hop forward", [FORWARD]),
    # no travel asked: a direction that is not beside a locomotion word
    ("turn left", []), ("lean forward", []), ("circle both arms backwards", []),
    ("kick with the right leg", []), ("squat down and stand back up", []), ("wave with the left hand", []),
    ("jog in a circle", []),
])
def test_requested_directions(prompt, expected):
    assert requested_directions(prompt) == expected


def _body(frames: int, velocity, heading: float) -> np.ndarray:
    """Joint positions: hips and shoulders across the body's left at ``heading`` (0 faces -Y, left +X), the
    pelvis moving at ``velocity`` (world x, y in m/s) at 30 fps."""
    pos = np.zeros((frames, 24, 3))
    left = np.array([np.cos(heading), np.sin(heading), 0.0])
    for name, sign in (("left_hip", 1), ("right_hip", -1), ("left_shoulder", 1), ("right_shoulder", -1)):
        pos[:, JOINT_INDEX[name]] = sign * 0.1 * left
    path = np.arange(frames)[:, None] / 30.0 * np.array([*velocity, 0.0])
    return pos + path[:, None, :]


def test_window_travel_is_in_the_bodys_own_frame():
    assert window_travel(_body(31, (0.0, 0.5), 0.0), 30) == pytest.approx((-0.5, 0.0))  # facing -Y, moving +Y
    assert window_travel(_body(31, (0.8, 0.0), 0.0), 30) == pytest.approx((0.0, 0.8))  # toward its left, +X
    # the same body turned 90 deg (facing +X, left +Y) moving +X: forward
    assert window_travel(_body(31, (0.6, 0.0), np.pi / 2), 30) == pytest.approx((0.6, 0.0), abs=1e-9)


def test_travel_scores_take_the_best_named_direction_and_scale_slow_windows_down():
    travel = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-MOVING_M_S / 2, 0.0], [-0.6, 0.8]])
    assert travel_scores(travel, [BACK]).tolist() == pytest.approx([1, 0, 0, 0, 0.5, 0.6])
    assert travel_scores(travel, [SIDEWAYS]).tolist() == pytest.approx([0, 0, 1, 1, 0, 0.8])
    assert travel_scores(travel, [BACK, LEFT]).tolist() == pytest.approx([1, 0, 1, 0, 0.5, 0.8])


def test_the_bank_ranks_by_travel_when_asked_and_stores_it():
    query = torch.tensor([1.0, 0.0])
    latents = torch.tensor([[1.0, 0.0], [0.99, 0.141]])  # window 0 a little nearer the text
    bank = LatentBank(latents, ["walk", "walk"], ["a@0", "a@20"], travel=torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    assert bank.pick(query, None)[0] == 0
    index, score = bank.pick(query, None, travel_scores=travel_scores(bank.travel, [BACK]))
    assert index == 1 and score == pytest.approx(0.99 + TRAVEL_WEIGHT, abs=1e-3)
    with pytest.raises(BankError, match="travel_scores must have one score per window"):
        bank.nearest(query, 1, travel_scores=torch.ones(3))
    with pytest.raises(BankError, match="travel"):
        LatentBank(latents, ["walk", "walk"], ["a@0", "a@20"], travel=torch.ones(2, 3))
