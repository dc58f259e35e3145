"""Flight: which prompts ask for both feet off the ground, how high a window gets them, how the bank weighs it."""

import numpy as np
import pytest
import torch

from motionclip_blender.core.model.bank import FLIGHT_WEIGHT, BankError, LatentBank
from motionclip_blender.core.model.flight import FULL_FLIGHT_M, asks_for_flight, flight_scores, window_flight
from motionclip_blender.core.motion.skeleton import JOINT_INDEX


@pytest.mark.parametrize("prompt, expected", [
    ("jump up to grab something", True), ("a person jumps", True), ("hopping on both feet", True),
    ("he leapt over it", True), ("Leap forward", True),
    ("walk forward", False), ("a jumpsuit model walks", False), ("shop for groceries", False),
])
def test_only_a_jump_hop_or_leap_asks_for_flight(prompt, expected):
    assert asks_for_flight(prompt) is expected


def _feet(heights):
    """(F, 24, 3) positions with every foot joint at its frame's (left, right) heights, the rest at 1 m."""
    pos = np.ones((len(heights), 24, 3))
    for f, (left, right) in enumerate(heights):
        for side, z in (("left", left), ("right", right)):
            pos[f, JOINT_INDEX[f"{side}_ankle"], 2] = pos[f, JOINT_INDEX[f"{side}_foot"], 2] = z
    return pos


def test_flight_is_both_feet_up_above_the_windows_own_floor():
    assert window_flight(_feet([(0.0, 0.0), (0.0, 0.3), (0.3, 0.0)])) == pytest.approx(0.0)  # one foot at a time
    assert window_flight(_feet([(0.0, 0.0), (0.25, 0.2), (0.0, 0.0)])) == pytest.approx(0.2)
    assert window_flight(_feet([(0.5, 0.5), (0.7, 0.6)])) == pytest.approx(0.1)  # a decoding 0.5 m up
    assert flight_scores(torch.tensor([0.0, FULL_FLIGHT_M / 2, 1.0])).tolist() == pytest.approx([0, 0.5, 1])


def test_the_bank_ranks_by_flight_when_asked_and_stores_it(tmp_path):
    query = torch.tensor([1.0, 0.0])
    latents = torch.tensor([[1.0, 0.0], [0.99, 0.141]])  # window 0 (its reaching, no jump) a little nearer
    bank = LatentBank(latents, ["jump to grab", "jump to grab"], ["a@0", "a@20"], flight=torch.tensor([0.01, 0.3]))
    assert bank.flight_fit("reach up") is None
    assert bank.pick(query, None)[0] == 0
    index, score = bank.pick(query, None, flight_scores=bank.flight_fit("jump up to grab something"))
    assert index == 1 and score == pytest.approx(0.99 + FLIGHT_WEIGHT, abs=1e-3)
    bank.save(tmp_path)
    assert torch.allclose(LatentBank.load(tmp_path).flight, bank.flight, atol=1e-3)
    assert LatentBank(latents, ["a", "a"], ["a@0", "a@20"]).flight_fit("jump") is None  # a bank without flight
    with pytest.raises(BankError, match="flight_scores must have one score per window"):
        bank.nearest(query, 1, flight_scores=torch.ones(3))
    with pytest.raises(BankError, match="flight"):
        LatentBank(latents, ["a", "a"], ["a@0", "a@20"], flight=torch.ones(3))
