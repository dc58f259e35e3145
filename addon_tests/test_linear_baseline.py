"""The linear auto-encoder yardstick of ``motionclip evaluate --linear-baseline`` on real CMU windows."""

import numpy as np
import pytest

from motionclip_blender.core.errors import InputError
from motionclip_blender.core.io.mocap import read_motion
from motionclip_blender.core.model.api import load_model
from motionclip_blender.core.paths import data_root
from motionclip_blender.core.training.dataset import Clip, fixed_windows
from motionclip_blender.core.training.linear_baseline import fit_linear_autoencoder, linear_baseline_figures
from motionclip_blender.core.training.reconstruction import reconstruction_errors

DATA = data_root() / "cmu"
pytestmark = pytest.mark.skipif(not (DATA / "index.json").is_file(), reason=f"CMU data not found at {DATA}")


@pytest.fixture(scope="module")
def walks():
    """Two walkers: subject 131 (a long trial, fitted on) and 7 (held out)."""
    return [Clip(trial, "walk", read_motion(DATA / "trials" / f"{trial}.bvh")) for trial in ("131_01", "07_01")]


def _mpjpe(linear, motion):
    return reconstruction_errors(linear.reconstruct(motion).joint_positions(), motion.joint_positions())[0]


def test_as_many_components_as_windows_reproduce_them_and_fewer_do_not(walks):
    train = [w.motion for w in fixed_windows(walks[:1], 30, stride=5)]
    assert len(train) >= 10
    exact = fit_linear_autoencoder(train, len(train))
    assert exact.basis.shape == (len(train), 30 * 150)
    assert max(_mpjpe(exact, m) for m in train) < 1.0  # mm
    coarse = fit_linear_autoencoder(train, 2)
    assert np.mean([_mpjpe(coarse, m) for m in train]) > 10.0
    other = fixed_windows(walks[1:], 30)[0].motion  # a walker it never saw: reconstructed, not exactly
    assert _mpjpe(exact, other) > 20.0


def test_bad_input_is_named(walks):
    train = [w.motion for w in fixed_windows(walks[:1], 30, stride=15)]
    with pytest.raises(InputError, match="components must be between 1 and"):
        fit_linear_autoencoder(train, len(train) + 1)
    with pytest.raises(InputError, match="components must be between 1 and"):
        fit_linear_autoencoder(train, 0)
    with pytest.raises(InputError, match="needs training windows"):
        fit_linear_autoencoder([], 4)
    with pytest.raises(InputError, match="same length"):
        fit_linear_autoencoder(train + [train[0][:20]], 4)
    with pytest.raises(InputError, match="reads windows of 30 frames"):
        fit_linear_autoencoder(train, 4).reconstruct(train[0][:20])


def test_figures_put_the_model_beside_the_baseline_on_the_same_windows(walks):
    model = load_model()
    held_out = fixed_windows(walks[1:], model.frames, min_frames=30)
    held_out.append(Clip("short", "walk", walks[1].motion[:40].canonical()))  # not the model's length: left out
    figures = linear_baseline_figures(model, walks[:1], held_out, components=8)
    assert figures["windows"] == len(held_out) - 1 and figures["components"] == 8
    assert figures["training_windows"] == 2 * len(fixed_windows(walks[:1], model.frames, stride=10))
    want = np.mean([reconstruction_errors(model.decode(model.encode(w.motion)).joint_positions(),
                                          w.motion.joint_positions())[0] for w in held_out[:-1]])
    assert figures["model"]["mpjpe_mm"] == pytest.approx(want)
    assert 0 < figures["linear"]["root_relative_mpjpe_mm"] < figures["linear"]["mpjpe_mm"] + 1e-6
    # the test windows carry no family here: one group, its mean the whole mean
    assert figures["linear"]["by_family"] == {"(none)": {"windows": figures["windows"],
                                                         "mpjpe_mm": pytest.approx(figures["linear"]["mpjpe_mm"])}}
