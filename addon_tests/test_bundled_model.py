"""Semantics of the bundled model (trained on CMU train subjects): not shapes, behaviour."""

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


# Known failure of the bundled model (strict: remove the marker once it passes). Decoding the text embedding
# gives the phase-average of the jump windows, so the flight phase washes out: both feet clear the ground by
# ~5 cm, no more than in its walk. See assets/model/MODEL_CARD.md and issue 4's note.
@pytest.mark.xfail(strict=True, reason="bundled model: decoded 'a person jumps' keeps a foot near the ground")
def test_jump_lifts_the_feet(model):
    jump = model.generate("a person jumps", frames=60)
    walk = model.generate("a person walks", frames=60)
    lowest_foot = jump.joint_positions()[:, FEET, 2].min(axis=1)
    lowest_walk = walk.joint_positions()[:, FEET, 2].min(axis=1)
    print(f"highest clearance of both feet: jump {lowest_foot.max() * 100:.1f} cm, walk {lowest_walk.max() * 100:.1f} cm")
    assert lowest_foot.max() > 0.08 and lowest_foot.max() > lowest_walk.max() + 0.04


# Known failure of the bundled model, kept visible (strict: the test fails once it starts passing, so the
# marker must then go). Held-out subjects are recognised below chance: the test split is mostly actions the
# model never saw (swordplay, washing, punching), and its walk/jump subjects come on a skeleton convention
# (Hahne/Daz BVH) that the training set only has for jumps, so the encoder keys on convention, not motion.
# See assets/model/MODEL_CARD.md and issue 4's note.
@pytest.mark.xfail(strict=True, reason="bundled model: held-out-subject recognition below chance (see model card)")
@pytest.mark.skipif(not (DATA / "index.json").is_file(), reason=f"CMU data not found at {DATA}")
def test_recognition_of_held_out_windows_beats_chance(model, tmp_path_factory):
    from motionclip_blender.core.dataset import load_clips, load_split
    from motionclip_blender.core.evaluate import compute_metrics

    clips = load_clips(DATA, load_split()["test"], progress=False)
    metrics = compute_metrics(model, clips)
    rec = metrics["recognition"]
    print(f"held-out top-1 {rec['top1']:.3f} (chance {rec['chance_top1']:.3f}), top-5 {rec['top5']:.3f} "
          f"over {metrics['windows']} windows / {metrics['prompts']} prompts")
    assert rec["top1"] > 2.5 * rec["chance_top1"], rec
