"""Semantics of the bundled model (trained on CMU train subjects): not shapes, behaviour."""

import re
from pathlib import Path

import numpy as np
import pytest

from motionclip_blender.core.paths import model_dir
from motionclip_blender.core.skeleton import JOINT_INDEX

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu"

FEET = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]


@pytest.fixture(scope="module")
def model():
    """The bundled model ships in the repository: its absence is a failure, not a skip."""
    from motionclip_blender.core.api import load_model

    assert (model_dir() / "config.json").is_file(), f"no bundled model in {model_dir()}"
    return load_model()


def _forward_distance(motion) -> float:
    """Root displacement along the start facing (-Y in the model's canonical frame)."""
    return float(-(motion.translation[-1, 1] - motion.translation[0, 1]))


def _speed(motion) -> float:
    step = np.linalg.norm(np.diff(motion.translation[:, :2], axis=0), axis=1)
    return float(step.mean() * motion.fps)


def test_bundled_model_identity(model):
    assert model.encoder_name == "minilm:all-MiniLM-L6-v2" and model.fps == 30 and model.frames == 60
    assert (model_dir() / "MODEL_CARD.md").is_file()


def test_walk_moves_forward(model):
    walk = model.generate("a person walks forward", frames=60)
    distance = _forward_distance(walk)
    print(f"walk: {distance:.2f} m forward in 2 s")
    assert distance > 0.8, distance


def test_run_is_faster_than_walk(model):
    walk, run = model.generate("a person walks", frames=60), model.generate("a person runs", frames=60)
    print(f"speed walk {_speed(walk):.2f} m/s, run {_speed(run):.2f} m/s")
    assert _speed(run) > 1.3 * _speed(walk)


def test_jump_lifts_the_feet(model):
    jump = model.generate("a person jumps", frames=60)
    walk = model.generate("a person walks", frames=60)
    lowest_foot = jump.joint_positions()[:, FEET, 2].min(axis=1)
    lowest_walk = walk.joint_positions()[:, FEET, 2].min(axis=1)
    peak = int(lowest_foot.argmax())
    print(f"highest clearance of both feet: jump {lowest_foot.max() * 100:.1f} cm (frame {peak}), "
          f"walk {lowest_walk.max() * 100:.1f} cm; lowest foot before/after the peak "
          f"{lowest_foot[:peak + 1].min() * 100:.1f} / {lowest_foot[peak:].min() * 100:.1f} cm")
    assert lowest_foot.max() > 0.08 and lowest_foot.max() > lowest_walk.max() + 0.04
    # a jump, not a float: it takes off from the ground and lands on it again within the clip
    assert lowest_foot[:peak + 1].min() < 0.03 and lowest_foot[peak:].min() < 0.03


ACTIONS = ("walk", "run", "jump")  # every test-split description names one of these


def _action(prompt: str) -> str:
    return next(a for a in ACTIONS if re.search(rf"\b{a}", prompt))


@pytest.mark.skipif(not (DATA / "index.json").is_file(), reason=f"CMU data not found at {DATA}")
def test_recognition_of_held_out_windows_beats_chance(model):
    """Held-out subjects (walks on two skeleton conventions, jumps), every 2-second window, recognised the way
    the add-on's Recognize does it: among the shipped label list (60 everyday actions). A window counts as
    recognised when the top label names its action ("walk" for "slow walk or stride"); chance is the share
    of labels that do. (``motionclip evaluate`` also ranks the test split's own prompts; 4 of its 6 are
    phrasings of "walk", so that figure mostly measures telling "slow walk" from "walk or stride".)"""
    from motionclip_blender.core.dataset import fixed_windows, load_clips, load_split
    from motionclip_blender.core.labels import default_labels

    labels = default_labels()
    windows = fixed_windows(load_clips(DATA, load_split()["test"], progress=False), model.frames, min_frames=30)
    hits, chance, per_action = 0, 0.0, {}
    for w in windows:
        action = _action(w.prompt)
        top = model.recognize(w.motion, labels, top_k=1)[0][0]
        right = bool(re.search(rf"\b{action}", top))
        hits += right
        chance += sum(bool(re.search(rf"\b{action}", l)) for l in labels) / len(labels)
        done, total = per_action.get(action, (0, 0))
        per_action[action] = (done + right, total + 1)
    rate, chance = hits / len(windows), chance / len(windows)
    print(f"held-out windows recognised: {rate:.3f} (chance {chance:.3f}) over {len(windows)} windows; "
          + ", ".join(f"{a} {d}/{t}" for a, (d, t) in per_action.items()))
    assert rate > 4 * chance and per_action["walk"][0] > 0.8 * per_action["walk"][1], per_action


@pytest.mark.skipif(not (DATA / "index.json").is_file(), reason=f"CMU data not found at {DATA}")
def test_evaluate_ranks_the_test_prompts_above_chance_and_the_commonest_answer(model):
    """``motionclip evaluate``'s zero-shot protocol: each test window's own prompt among the split's prompts."""
    from motionclip_blender.core.dataset import load_clips, load_split
    from motionclip_blender.core.evaluate import compute_metrics

    rec = compute_metrics(model, load_clips(DATA, load_split()["test"], progress=False))["recognition"]
    print(f"test-prompt top-1 {rec['top1']:.3f} (chance {rec['chance_top1']:.3f}, always the commonest "
          f"{rec['majority_top1']:.3f}), per-prompt mean {rec['balanced_top1']:.3f}, top-5 {rec['top5']:.3f}")
    assert rec["top1"] > 2.5 * rec["chance_top1"] and rec["top1"] > rec["majority_top1"] + 0.1, rec
