"""The public latent API on a small untrained checkpoint in the real MiniLM space (no bundled model needed)."""

import math

import numpy as np
import pytest
import torch

from motionclip_blender.core.model.api import ModelLoadError, load_model, mix_latents
from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
from motionclip_blender.core.model.encoders import EncoderMismatchError
from motionclip_blender.core.model.fitting import fit_latent
from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel
from motionclip_blender.core.motion.motion import Motion

from .test_motion import random_motion

CFG = ModelConfig(d_model=64, latent_dim=384, num_encoder_layers=2, num_decoder_layers=2, num_heads=4, ff_size=96,
                  dropout=0.0, max_frames=700)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("api") / "small"
    save_checkpoint(MotionCLIPModel(CFG), CheckpointMeta(model=CFG, encoder="minilm:all-MiniLM-L6-v2",
                                                         encoder_dim=384), path)
    return path


@pytest.fixture(scope="module")
def model(small_checkpoint):
    return load_model(small_checkpoint)


def test_generate_shapes_determinism_and_seeds(model):
    a = model.generate("a person walks forward", frames=45)
    assert isinstance(a, Motion) and len(a) == 45 and a.fps == 30
    b = model.generate("a person walks forward", frames=45)
    assert np.allclose(a.rotations, b.rotations)
    s1 = model.generate("a person walks forward", frames=45, seed=1)
    s1b = model.generate("a person walks forward", frames=45, seed=1)
    s2 = model.generate("a person walks forward", frames=45, seed=2)
    assert np.allclose(s1.rotations, s1b.rotations) and not np.allclose(s1.rotations, s2.rotations)
    assert len(model.generate("jump", frames=600)) == 600
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="non-empty"):
            model.generate(bad)


def test_encode_is_unit_and_canonical(model):
    m = random_motion(60, seed=4)
    z = model.encode(m)
    assert z.shape == (384,) and math.isclose(float(z.norm()), 1.0, rel_tol=1e-5)
    # heading and position of the clip in the scene do not change its latent
    moved = m.rotated_about_z(1.1)
    moved.translation[:, :2] += np.array([3.0, -2.0], np.float32)
    assert torch.allclose(model.encode(moved), z, atol=1e-4)
    # other frame rates are resampled first; long clips are encoded in windows
    assert model.encode(m.resample(60)).shape == (384,)
    assert model.encode(random_motion(200, seed=5)).shape == (384,)
    with pytest.raises(TypeError, match="Motion"):
        model.encode("walk")


def test_decode_checks_its_inputs(model):
    z = model.text_latent(["walk"])[0]
    assert len(model.decode(z, 33)) == 33 and len(model.decode(z)) == model.frames
    with pytest.raises(ValueError, match="384"):
        model.decode(torch.zeros(10), 30)
    with pytest.raises(ValueError, match="at least 1"):
        model.decode(z, 0)


def test_interpolate_endpoints(model):
    motions = model.interpolate("walk", "jump", steps=4, frames=30)
    assert len(motions) == 4
    assert np.allclose(motions[0].rotations, model.generate("walk", frames=30).rotations, atol=1e-5)
    assert np.allclose(motions[-1].rotations, model.generate("jump", frames=30).rotations, atol=1e-5)
    assert not np.allclose(motions[1].rotations, motions[0].rotations)
    za, zb = model.latent("walk"), model.latent("jump")
    assert torch.allclose(mix_latents(za, zb, 0.0), za) and torch.allclose(mix_latents(za, zb, 1.0), zb)
    with pytest.raises(ValueError, match="steps"):
        model.interpolate("walk", "jump", steps=1)


def test_edit_is_latent_arithmetic(model):
    base = random_motion(60, seed=7)
    edited = model.edit(base, "walk", "run")
    # a Motion as the base stands for its fitted latent (fitting.py), the one that decodes back to it
    expected = model.decode(fit_latent(model, base) - model.latent("walk") + model.latent("run"), 60)
    assert len(edited) == 60 and np.allclose(edited.rotations, expected.rotations, atol=1e-5)
    with pytest.raises(TypeError, match="prompt, a Motion"):
        model.edit(base, 3, "run")


def test_recognize_ranks_by_cosine(model):
    m = random_motion(60, seed=8)
    labels = ["walk", "run", "jump", "sit down", "wave", "dance"]
    result = model.recognize(m, labels, top_k=3)
    assert len(result) == 3 and [s for _, s in result] == sorted((s for _, s in result), reverse=True)
    z = model.encode(m)
    for label, score in result:
        assert math.isclose(score, float(model.latent(label) @ z), abs_tol=1e-5)
    assert len(model.recognize(m, labels, top_k=10)) == len(labels)
    with pytest.raises(ValueError, match="label"):
        model.recognize(m, ["", "  "])


def test_load_errors(small_checkpoint, tmp_path, tiny_clip_path):
    with pytest.raises(ModelLoadError, match="no such checkpoint"):
        load_model(tmp_path / "missing")
    with pytest.raises(EncoderMismatchError, match="minilm:all-MiniLM-L6-v2"):
        load_model(small_checkpoint, encoder="clip:" + tiny_clip_path)


def test_paper_feature_frame_round_trip(small_checkpoint):
    model = load_model(small_checkpoint)
    model.meta.feature_frame = "smpl"
    m = random_motion(10, seed=9)
    back = model._motion(model.features(m))
    assert np.allclose(back.joint_positions(), m.joint_positions(), atol=1e-5)
    # in SMPL's frame the character's up axis is +Y
    feats = model.features(Motion.rest(1))
    assert feats[0, 24, 1] > 0.9 and abs(float(feats[0, 24, 2])) < 1e-6


def test_prompts_with_control_characters_or_past_the_token_limit(model):
    from motionclip_blender.core.model.api import PromptTruncatedWarning

    with pytest.raises(ValueError, match="control characters"):
        model.generate("walk\x00 then run")
    long = "a person walks forward " * 80  # ~400 word pieces: MiniLM reads 256
    with pytest.warns(PromptTruncatedWarning, match="reads only the first 256"):
        model.text_latent([long])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.text_latent(["a person walks forward"])  # a normal prompt: no warning


def test_recognize_wants_a_list_of_labels_and_encode_frames(model):
    with pytest.raises(TypeError, match="single text 'walk'"):
        model.recognize(random_motion(30, seed=1), "walk")
    with pytest.raises(ValueError, match="no frames"):
        model.encode(random_motion(30, seed=1)[0:0])


def test_variations_come_best_match_first(model):
    takes = model.variations("a person jumps", count=4, first_seed=3, frames=30)
    assert [s for s, _, _ in sorted(takes)] == [3, 4, 5, 6]
    scores = [score for _, _, score in takes]
    assert scores == sorted(scores, reverse=True)
    seed, motion, score = takes[0]
    assert np.allclose(motion.rotations, model.generate("a person jumps", frames=30, seed=seed).rotations)
    assert abs(score - float(model.encode(motion) @ model.text_latent(["a person jumps"])[0])) < 1e-6
