"""Fitted latents (fitting.py): the bundled model's latent of a new performer's clip, refined to decode back to it."""

import numpy as np
import pytest
import torch

from motionclip_blender.core.errors import InputError
from motionclip_blender.core.io.mocap import read_motion
from motionclip_blender.core.model.api import load_model
from motionclip_blender.core.model.fitting import fit_latent
from motionclip_blender.core.paths import data_root
from motionclip_blender.core.training.prompt_suite import both_feet_clearance
from motionclip_blender.core.training.reconstruction import reconstruction_errors

TRIAL = data_root() / "cmu" / "trials" / "08_01.bvh"  # subject 8: a test-split walker
pytestmark = pytest.mark.skipif(not TRIAL.is_file(), reason=f"CMU data not found at {TRIAL}")


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def walk():
    return read_motion(TRIAL)


def _error(model, z, motion):
    window = motion[: model.frames].canonical()
    return reconstruction_errors(model.decode(z, model.frames).joint_positions(), window.joint_positions())[0]


def test_a_fitted_latent_decodes_back_to_the_clip_far_closer_than_the_encoders(model, walk):
    encoded = fit_latent(model, walk, steps=0)
    assert torch.allclose(encoded, model.encode_windows([walk[: model.frames]])[0])
    fitted = fit_latent(model, walk, steps=60)
    assert float(fitted.norm()) == pytest.approx(1.0, abs=1e-5)
    before, after = _error(model, encoded, walk), _error(model, fitted, walk)
    assert after < 0.7 * before, (before, after)
    # the first window is what one latent holds: the rest of a long clip does not move it
    assert torch.allclose(fit_latent(model, walk[: model.frames], steps=5), fit_latent(model, walk, steps=5), atol=1e-6)


def test_a_clip_in_interpolate_mix_and_edit_stands_for_its_fitted_latent(model, walk):
    assert torch.allclose(model.motion_latent(walk, fit_steps=10), fit_latent(model, walk, steps=10), atol=1e-6)
    picked = model.bank_pick(model.latent("jump"), None, "jump")
    assert torch.allclose(model.motion_latent("jump"), model.bank.code(picked))  # a prompt: its bank window


def test_an_edit_of_a_fitted_clip_still_becomes_the_action_asked(model, walk):
    """Fitted latents sit farther from their text than the encoder's (fitting.py); the arithmetic must still
    carry the edit: a new performer's walk, minus "walk" plus "jump", leaves the ground and reads as a jump."""
    jumped = model.edit(walk[: model.frames], "walk", "jump")
    labels = ["walk", "run", "jump", "squat", "kick", "dance", "lie down", "throw"]
    assert model.recognize(jumped, labels, top_k=1)[0][0] == "jump"
    assert both_feet_clearance(jumped.joint_positions()) > 0.10


def test_the_fit_reports_every_step_and_stops_when_its_caller_raises(model, walk):
    fractions = []
    fit_latent(model, walk, steps=8, on_step=fractions.append)
    assert fractions == pytest.approx([(i + 1) / 8 for i in range(8)])

    def stop_at_half(fraction):
        if fraction >= 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_latent(model, walk, steps=8, on_step=stop_at_half)


def test_bad_input_is_named(model, walk):
    with pytest.raises(InputError, match="whole number >= 0"):
        fit_latent(model, walk, steps=-1)
    with pytest.raises(InputError, match="no frames"):
        fit_latent(model, walk[0:0])
    with pytest.raises(TypeError, match="expects a Motion"):
        fit_latent(model, np.zeros((60, 24, 3)))
