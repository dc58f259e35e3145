"""The latent bank: text-to-motion decodes the nearest encoded training window, seeds draw other windows."""

import shutil

import numpy as np
import pytest
import torch

from motionclip_blender.core.model.api import ModelLoadError, load_model
from motionclip_blender.core.model.bank import BANK_NAME, BankError, LatentBank, build_bank
from motionclip_blender.core.training.dataset import Clip

from .test_api import small_checkpoint  # noqa: F401  (fixture)
from .test_motion import random_motion


@pytest.fixture(scope="module")
def banked(small_checkpoint, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("bank") / "banked"
    shutil.copytree(small_checkpoint, path)
    model = load_model(path)
    clips = [Clip("walk_trial", "a person walks to the left", random_motion(100, seed=1)),
             Clip("jump_trial", "a person jumps", random_motion(50, seed=2))]
    bank = build_bank(model, clips, stride=20, progress=False)
    bank.save(path)
    return path, bank, clips


def test_bank_windows_both_mirrors_and_round_trip(banked):
    path, bank, _ = banked
    # 100 frames at stride 20 with 60-frame windows: starts 0, 20, 40; the 50-frame clip is one window
    assert bank.sources == ["walk_trial@0", "walk_trial@20", "walk_trial@40", "walk_trial@0~", "walk_trial@20~",
                            "walk_trial@40~", "jump_trial@0", "jump_trial@0~"]
    assert bank.texts[3] == "a person walks to the right"  # mirrored window, mirrored words
    loaded = LatentBank.load(path)
    assert loaded.sources == bank.sources and loaded.texts == bank.texts
    assert torch.allclose(loaded.latents, bank.latents, atol=2e-3)  # stored as float16
    assert torch.allclose(loaded.latents.norm(dim=1), torch.ones(len(bank)), atol=1e-3)


def test_generate_decodes_the_nearest_window_and_seeds_draw_others(banked):
    path, _, _ = banked
    model = load_model(path)
    bank = model.bank  # as stored: float16-rounded
    assert bank is not None
    prompt = "a person jumps"
    nearest, _ = bank.nearest(model.text_latent([prompt])[0], 1)
    expected = model.decode(bank.latents[int(nearest[0])], 40)
    plain = model.generate(prompt, frames=40)
    assert np.allclose(plain.rotations, expected.rotations, atol=1e-6)
    picks = {bank.pick(model.text_latent([prompt])[0], seed)[0] for seed in range(1, 30)}
    assert len(picks) >= 2  # seeds give other takes
    takes = [model.generate(prompt, frames=40, seed=s).rotations for s in (1, 1)]
    assert np.allclose(takes[0], takes[1])  # and the same seed the same take
    text = model.generate(prompt, frames=40, source="text")
    assert np.allclose(text.rotations, model.decode(model.text_latent([prompt])[0], 40).rotations, atol=1e-6)
    with pytest.raises(ValueError, match="source"):
        model.generate(prompt, source="nearest")


def test_bank_problems_are_named(banked, small_checkpoint, tmp_path):  # noqa: F811
    assert load_model(small_checkpoint).bank is None
    with pytest.raises(ValueError, match="no latent bank"):
        load_model(small_checkpoint).generate("walk", source="bank")
    path, _, _ = banked
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    (broken / BANK_NAME).write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match=BANK_NAME):
        load_model(broken)
    with pytest.raises(BankError, match="one text and one source"):
        LatentBank(torch.ones(3, 4), ["a", "b"], ["x", "y", "z"])


def test_refined_codes_reconstruct_their_windows_better_and_are_what_generate_decodes(small_checkpoint, tmp_path):  # noqa: F811

    path = tmp_path / "refined"
    shutil.copytree(small_checkpoint, path)
    model = load_model(path)
    clips = [Clip("walk_trial", "a person walks to the left", random_motion(100, seed=1)),
             Clip("jump_trial", "a person jumps", random_motion(50, seed=2))]
    plain = build_bank(model, clips, stride=20, progress=False)
    refined = build_bank(model, clips, stride=20, progress=False, refine_steps=20)
    assert plain.codes is None and torch.allclose(refined.latents, plain.latents)  # picking is unchanged
    window = (clips[0].motion[0:60]).canonical()  # walk_trial@0

    def error(z):
        return float(np.linalg.norm(model.decode(z, 60).joint_positions() - window.joint_positions(), axis=-1).mean())

    assert error(refined.code(0)) < 0.9 * error(refined.latents[0])
    refined.save(path)
    loaded = load_model(path)
    assert loaded.bank.codes is not None and torch.allclose(loaded.bank.codes, refined.codes, atol=2e-3)
    nearest = int(loaded.bank.nearest(loaded.text_latent(["a person jumps"])[0], 1)[0][0])
    got = loaded.generate("a person jumps", frames=40, clean_feet=False)
    assert np.allclose(got.rotations, loaded.decode(loaded.bank.code(nearest), 40).rotations, atol=1e-6)
    with pytest.raises(BankError, match="codes"):
        LatentBank(refined.latents, refined.texts, refined.sources, 20, refined.codes[:3])


def test_a_windows_own_text_breaks_near_ties_but_not_clear_latent_gaps():
    from motionclip_blender.core.model.bank import TEXT_WEIGHT

    query = torch.tensor([1.0, 0.0, 0.0])
    cosines = torch.tensor([0.80, 0.79, 0.50])  # the query's cosine to each window's latent
    latents = torch.stack([torch.stack([c, (1 - c ** 2).sqrt(), torch.tensor(0.0)]) for c in cosines])
    bank = LatentBank(latents, ["walk", "slow walk", "stroll"], ["a@0", "b@0", "c@0"])
    assert bank.pick(query, None)[0] == 0  # latents alone: the plain walk
    text = torch.tensor([0.70, 0.80, 1.00])  # the prompt's cosine to each window's own text
    index, score = bank.pick(query, None, text_scores=text)
    assert index == 1 and score == pytest.approx(0.79 + TEXT_WEIGHT * 0.80, abs=1e-5)
    with pytest.raises(BankError, match="one score per window"):
        bank.pick(query, None, text_scores=torch.ones(2))


def test_seeded_takes_are_other_performances_near_the_best_and_never_repeat_it():
    from motionclip_blender.core.model.bank import VARIATION_MARGIN

    query = torch.tensor([1.0, 0.0, 0.0])
    # window: cosine to the query, performance
    windows = [(0.90, "walk_a@0"), (0.89, "walk_a@20"), (0.88, "walk_b@0"), (0.87, "walk_a@0~"),
               (0.86, "walk_c@40"), (0.90 - VARIATION_MARGIN - 0.01, "run_a@0")]
    latents = torch.stack([torch.tensor([c, (1 - c ** 2) ** 0.5, 0.0]) for c, _ in windows])
    bank = LatentBank(latents, ["walk"] * 5 + ["run"], [s for _, s in windows])
    assert bank.pick(query, None)[0] == 0
    # other performances first (best window of each), then the rest of the best's performance; the run,
    # past the margin, never
    assert [bank.pick(query, seed)[0] for seed in range(1, 5)] == [4, 1, 3, 2]
    assert [bank.pick(query, seed)[0] for seed in range(0, 4)] == [2, 4, 1, 3]
    index, score = bank.pick(query, 7)  # seeds cycle: 7 % 4 = 3, the mirror image of the best's performance
    assert index == 3 and score == pytest.approx(0.87, abs=1e-6)
    alone = LatentBank(latents[[0, 5]], ["walk", "run"], ["walk_a@0", "run_a@0"])
    assert {alone.pick(query, seed)[0] for seed in range(5)} == {0}  # nothing else near: the best take


def test_bank_travel_is_measured_per_window_mirrored_and_stored(banked):
    from motionclip_blender.core.model.travel import window_travel

    path, bank, clips = banked
    window = clips[0].motion[20:80]  # walk_trial@20
    assert bank.travel[1].tolist() == pytest.approx(window_travel(window.joint_positions(), window.fps), abs=1e-5)
    mirrored = bank.travel[4]  # walk_trial@20~: the same travel with left and right swapped (to the SMPL
    # rest skeleton's few millimetres of left-right asymmetry)
    assert mirrored.tolist() == pytest.approx([bank.travel[1, 0].item(), -bank.travel[1, 1].item()], abs=0.01)
    assert torch.allclose(LatentBank.load(path).travel, bank.travel, atol=2e-3)  # stored as float16


def test_a_window_decoded_nearly_still_ranks_below_the_moving_windows_of_its_text():
    from motionclip_blender.core.model.bank import LULL_FRACTION, LULL_WEIGHT

    query = torch.tensor([1.0, 0.0])
    cosines = [0.900, 0.895, 0.890, 0.850, 0.849]
    latents = torch.stack([torch.tensor([c, (1 - c ** 2) ** 0.5]) for c in cosines])
    texts = ["salsa", "salsa", "salsa", "slow walk", "slow walk"]
    energy = torch.tensor([0.02, 0.12, 0.13, 0.03, 0.03])  # metres, as decoded
    bank = LatentBank(latents, texts, ["s@0", "s@20", "s@40", "w@0", "w@20"], energy=energy)
    # salsa median 0.12 m: the 2-cm window is a lull of 1 - 0.02 / (LULL_FRACTION * 0.12); the slow walk moves
    # like its own text, no lull
    assert bank.lulls().tolist() == pytest.approx([1 - 0.02 / (LULL_FRACTION * 0.12), 0, 0, 0, 0], abs=1e-6)
    index, score = bank.pick(query, None)
    assert index == 1 and score == pytest.approx(0.895, abs=1e-6)
    assert bank.nearest(torch.tensor([0.85, 0.527]), 1)[0].item() == 3  # the slow walk keeps its place
    assert LatentBank(latents, texts, ["s@0", "s@20", "s@40", "w@0", "w@20"]).pick(query, None)[0] == 0  # no energy
    assert LULL_WEIGHT > 0.005  # above the 0.005 that separated v0.5's salsa windows
    with pytest.raises(BankError, match="energy"):
        LatentBank(latents, texts, ["s@0", "s@20", "s@40", "w@0", "w@20"], energy=torch.ones(4))


def test_bank_energy_is_the_pose_energy_of_each_window_as_decoded(banked):
    from motionclip_blender.core.training.prompt_suite import pose_energy

    path, bank, clips = banked
    model = load_model(path)
    decoded = model.decode(bank.latents[6], len(clips[1].motion))  # jump_trial@0, 50 frames
    assert bank.energy[6].item() == pytest.approx(pose_energy(decoded.joint_positions()), rel=2e-3)
    assert torch.allclose(LatentBank.load(path).energy, bank.energy, rtol=2e-3)  # stored as float16


def test_a_window_describes_its_performance_for_the_animator():
    bank = LatentBank(torch.eye(2), ["walk", "a person kicks forward"], ["02_01@20", "hdm05:HDM_bd_kick_001@0~"])
    assert bank.describe(0) == '"walk" (CMU trial 02_01, frame 20)'
    assert bank.describe(1) == '"a person kicks forward" (HDM05 clip HDM_bd_kick_001, frame 0, mirrored)'
