"""core.encoders: offline MiniLM, CLIP through the real clip.load on a tiny CLIP, errors and space matching."""

from __future__ import annotations

import os
import re
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from motionclip_blender.core.model import clip_encoder
from motionclip_blender.core.model import encoders as enc_mod
from motionclip_blender.core.model.encoders import (
    MINILM_NAME,
    ClipEncoder,
    Encoder,
    EncoderError,
    EncoderMismatchError,
    MiniLMEncoder,
    canonical_encoder_name,
    check_encoder_matches,
    clear_encoder_cache,
    encoder_spec_matches,
    load_encoder,
)


def _assert_unit_rows(x: torch.Tensor, n: int, dim: int) -> None:
    assert x.shape == (n, dim)
    assert x.dtype == torch.float32 and x.device.type == "cpu"
    assert not x.requires_grad and not x.is_inference()
    assert torch.allclose(x.norm(dim=-1), torch.ones(n), atol=1e-5)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Each test sees an empty LRU so cache assertions do not depend on test order; the module fixtures below
    # hold their own references, so models are not reloaded per test.
    clear_encoder_cache()
    yield
    clear_encoder_cache()


# ----------------------------------------------------------------------------------------------- MiniLM


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return load_encoder("minilm")


def test_minilm_identity(minilm):
    assert isinstance(minilm, MiniLMEncoder)
    assert minilm.name == MINILM_NAME == "minilm:all-MiniLM-L6-v2"
    assert minilm.dim == 384
    assert not minilm.supports_images


def test_minilm_semantics(minilm):
    e = minilm.encode_text(["a person sits down on a chair", "sitting on a couch", "running fast"])
    _assert_unit_rows(e, 3, 384)
    sit_couch, sit_run = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert sit_couch > sit_run + 0.2, (sit_couch, sit_run)


def test_minilm_batch_single_empty_and_determinism(minilm):
    batch = minilm.encode_text(["walk", "jump", "a person waves with the left hand"])
    _assert_unit_rows(batch, 3, 384)
    single = minilm.encode_text("jump")  # a bare string is one prompt, not a list of characters
    _assert_unit_rows(single, 1, 384)
    # Batching (padding) must not change an embedding beyond float noise.
    assert torch.allclose(single[0], batch[1], atol=1e-5)
    assert minilm.encode_text([]).shape == (0, 384)
    with pytest.raises(EncoderError):
        minilm.encode_text(["ok", 3])


def test_minilm_has_no_image_side(minilm):
    with pytest.raises(EncoderError, match="CLIP"):
        minilm.encode_image([Image.new("RGB", (8, 8))])


def test_minilm_offline_env_respects_user_setting(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    MiniLMEncoder()
    assert os.environ["HF_HUB_OFFLINE"] == "0"  # user's explicit choice kept
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"  # unset -> offline default


def test_minilm_cache_and_aliases(minilm):
    a = load_encoder("minilm")
    assert load_encoder("minilm") is a
    assert load_encoder("MiniLM:all-MiniLM-L6-v2") is a  # the stored name round-trips as a spec
    torch.testing.assert_close(a.encode_text(["x"]), minilm.encode_text(["x"]))


# ------------------------------------------------------------------------------------------------- CLIP


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_path) -> ClipEncoder:
    return load_encoder("clip:" + tiny_clip_path)


def test_clip_file_goes_through_real_clip_load(tiny_clip_path, monkeypatch):
    import clip

    calls = []
    real_load = clip.load

    def spy(name, *args, **kwargs):
        calls.append((name, kwargs.get("jit")))
        return real_load(name, *args, **kwargs)

    monkeypatch.setattr(clip, "load", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our known noise (pkg_resources, torch.jit.load) is filtered
        enc = load_encoder("clip:" + tiny_clip_path)
    assert calls == [(tiny_clip_path, False)]
    assert isinstance(enc, ClipEncoder) and enc.supports_images
    assert enc.dim == 32 and enc.input_resolution == 64
    # Not a known OpenAI architecture: named by the hash of its weights.
    assert re.fullmatch(r"clip:custom-[0-9a-f]{12}", enc.name)
    assert enc.weights_sha256.startswith(enc.name.removeprefix("clip:custom-"))


def test_clip_text(tiny_clip, tiny_clip_path):
    import clip
    from clip.model import build_model

    texts = ["a person jumps", "a person sits down", "a person jumps"]
    e = tiny_clip.encode_text(texts)
    _assert_unit_rows(e, 3, 32)
    torch.testing.assert_close(e[0], e[2])
    assert not torch.allclose(e[0], e[1], atol=1e-3)
    torch.testing.assert_close(tiny_clip.encode_text(texts), e)  # deterministic across calls
    # It is the saved weights, tokenised by clip.tokenize: rebuild the reference exactly as clip.load does.
    ref = build_model(torch.load(tiny_clip_path, map_location="cpu")).float()
    with torch.no_grad():
        expected = F.normalize(ref.encode_text(clip.tokenize(texts)).float(), dim=-1)
    torch.testing.assert_close(e, expected, atol=1e-5, rtol=1e-5)
    # Over-long prompts are truncated to the 77-token context instead of raising.
    _assert_unit_rows(tiny_clip.encode_text(["walk " * 200]), 1, 32)
    assert tiny_clip.encode_text([]).shape == (0, 32)


def test_clip_image_inputs(tiny_clip, tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(90, 150, 3), dtype=np.uint8)
    path = tmp_path / "frame.png"
    Image.fromarray(rgb).save(path)
    rgba = np.concatenate([rgb, np.full((90, 150, 1), 255, np.uint8)], axis=2)

    e = tiny_clip.encode_image([Image.fromarray(rgb), str(path), path, rgb, rgba, rgb.astype(np.float32) / 255.0])
    _assert_unit_rows(e, 6, 32)
    for i in range(1, 6):  # one picture through every input kind gives one embedding
        torch.testing.assert_close(e[i], e[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(tiny_clip.encode_image([rgb]), e[:1])  # deterministic

    other = tiny_clip.encode_image(Image.fromarray(255 - rgb))  # a single image, not in a list
    _assert_unit_rows(other, 1, 32)
    assert not torch.allclose(other[0], e[0], atol=1e-3)
    stack = tiny_clip.encode_image(np.stack([rgb, 255 - rgb]))  # (N, H, W, 3) is a batch of frames
    torch.testing.assert_close(stack, torch.cat([e[:1], other]), atol=1e-4, rtol=1e-4)


def test_clip_preprocess_resizes_any_image(tiny_clip):
    for size in [(200, 120), (17, 300), (64, 64), (1000, 999)]:
        assert tiny_clip.preprocess(Image.new("RGB", size, (10, 200, 30))).shape == (3, 64, 64)
    _assert_unit_rows(tiny_clip.encode_image([Image.new("L", (30, 500)), Image.new("RGB", (640, 48))]), 2, 32)


def test_clip_transparency_composited_on_white(tiny_clip):
    clear = np.zeros((64, 64, 4), np.uint8)  # fully transparent, black underneath
    white = np.full((64, 64, 3), 255, np.uint8)
    black = np.zeros((64, 64, 3), np.uint8)
    e = tiny_clip.encode_image([clear, white, black])
    torch.testing.assert_close(e[0], e[1])
    assert not torch.allclose(e[0], e[2], atol=1e-3)


def test_clip_bad_images(tiny_clip, tmp_path):
    with pytest.raises(EncoderError, match="not found"):
        tiny_clip.encode_image([str(tmp_path / "nope.png")])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(EncoderError, match="cannot read image"):
        tiny_clip.encode_image([tmp_path / "bad.png"])
    with pytest.raises(EncoderError, match="shape"):
        tiny_clip.encode_image([np.zeros((8, 8, 5), np.uint8)])
    with pytest.raises(EncoderError, match="uint8"):
        tiny_clip.encode_image([np.zeros((8, 8, 3), np.int64)])
    with pytest.raises(EncoderError):
        tiny_clip.encode_image([42])


def test_clip_torchscript_archive(tiny_clip, tiny_clip_path, tmp_path):
    # OpenAI's released .pt files are TorchScript archives; clip.load(jit=False) rebuilds them from their state dict.
    import clip
    from clip.model import build_model

    model = build_model(torch.load(tiny_clip_path, map_location="cpu")).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated in torch 2.14 but still what OpenAI shipped
        traced = torch.jit.trace(model, (torch.zeros(1, 3, 64, 64), clip.tokenize(["x"])), check_trace=False)
    jit_path = tmp_path / "tiny_jit.pt"
    traced.save(str(jit_path))
    enc = load_encoder(f"clip:{jit_path}")
    texts = ["a person jumps", "a person sits down"]
    torch.testing.assert_close(enc.encode_text(texts), tiny_clip.encode_text(texts), atol=1e-5, rtol=1e-5)
    assert enc.name == tiny_clip.name  # same weights, same space, whatever the file format


def test_clip_cache_and_distinct_weights(tiny_clip_path, tmp_path):
    a = load_encoder("clip:" + tiny_clip_path)
    assert load_encoder("clip:" + tiny_clip_path) is a
    sd = torch.load(tiny_clip_path, map_location="cpu")
    sd["text_projection"] = sd["text_projection"].flip(0)  # different weights, same architecture
    other_path = tmp_path / "other.pt"
    torch.save(sd, other_path)
    b = load_encoder(f"clip:{other_path}")
    assert b is not a and b.name != a.name and b.name.startswith("clip:custom-")
    assert not torch.allclose(a.encode_text(["jump"]), b.encode_text(["jump"]), atol=1e-3)
    # A file rewritten in place is reloaded, not served stale from the cache; the same weights re-saved under
    # another file name (torch.save's bytes differ with the name) are still the same space.
    torch.save(torch.load(tiny_clip_path, map_location="cpu"), other_path)
    assert other_path.read_bytes() != Path(tiny_clip_path).read_bytes()
    os.utime(other_path, ns=(1, 1))
    c = load_encoder(f"clip:{other_path}")
    assert c is not b and c.name == a.name


def test_known_architecture_is_named(tiny_clip, tiny_clip_path, monkeypatch):
    fp = clip_encoder._clip_fingerprint(tiny_clip._model)
    assert fp == (32, 64, 2, 64, 32, 77, 49408, 64, 2)
    monkeypatch.setitem(clip_encoder._OPENAI_CLIP_ARCHS, fp, "ViT-B/32")
    assert load_encoder("clip:" + tiny_clip_path).name == "clip:ViT-B/32"


@pytest.mark.parametrize("name,args", [
    ("ViT-B/32", (512, 224, 12, 768, 32, 77, 49408, 512, 8, 12)),
    ("ViT-L/14@336px", (768, 336, 24, 1024, 14, 77, 49408, 768, 12, 12)),
    ("RN50", (1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12)),
    ("RN50x4", (640, 288, (4, 6, 10, 6), 80, None, 77, 49408, 640, 10, 12)),
])


def test_fingerprint_of_openai_architectures(name, args):
    from clip.model import CLIP

    with torch.device("meta"):  # structure only, no memory or init cost
        model = CLIP(*args)
    assert clip_encoder._OPENAI_CLIP_ARCHS[clip_encoder._clip_fingerprint(model)] == name


# ----------------------------------------------------------------------------------------------- errors


def test_clip_missing_truncated_and_foreign_files(tiny_clip_path, tmp_path):
    with pytest.raises(EncoderError, match="not found"):
        load_encoder(f"clip:{tmp_path / 'missing.pt'}")
    with pytest.raises(EncoderError, match="not a file"):
        load_encoder(f"clip:{tmp_path}")
    data = Path(tiny_clip_path).read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(EncoderError, match="cannot load CLIP weights.*truncated"):
        load_encoder(f"clip:{tmp_path / 'trunc.pt'}")
    (tmp_path / "garbage.pt").write_bytes(b"hello")
    with pytest.raises(EncoderError, match="cannot load CLIP weights"):
        load_encoder(f"clip:{tmp_path / 'garbage.pt'}")
    torch.save({"state_dict": torch.load(tiny_clip_path), "epoch": 3}, tmp_path / "wrapped.pt")
    with pytest.raises(EncoderError, match="state_dict"):
        load_encoder(f"clip:{tmp_path / 'wrapped.pt'}")


def test_clip_download_failure_is_explained(monkeypatch):
    import clip.clip as clip_impl

    def offline(url, root):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(clip_impl, "_download", offline)
    with pytest.raises(EncoderError, match=r"'ViT-B/32' could not be downloaded \(offline\?\).*clip:/path"):
        load_encoder("clip:ViT-B/32")


@pytest.mark.parametrize("spec,match", [
    ("bert", "unknown encoder spec"),
    ("", "non-empty"),
    ("clip:", "unknown encoder spec"),
    ("clip:ViT-Z/99", "unknown CLIP model 'ViT-Z/99'.*ViT-B/32"),
    ("clip:custom-0123456789ab", "hash of its weights.*clip:/path"),
    ("minilm:bert-base", "only 'minilm:all-MiniLM-L6-v2'"),
])


def test_bad_specs(spec, match):
    with pytest.raises(EncoderError, match=match):
        load_encoder(spec)


def test_bad_device():
    with pytest.raises(EncoderError, match="invalid device"):
        load_encoder("minilm", device="not-a-device")
    if not torch.cuda.is_available():
        with pytest.raises(EncoderError, match="CUDA is not available"):
            load_encoder("minilm", device="cuda")


# ------------------------------------------------------------------------------------- space matching


class _Stub(Encoder):
    def __init__(self, name: str, dim: int):
        self.name, self.dim, self.device = name, dim, torch.device("cpu")

    def encode_text(self, texts):
        raise NotImplementedError


def test_canonical_names_and_matching():
    assert canonical_encoder_name("minilm") == MINILM_NAME
    assert canonical_encoder_name(" clip:vit-b/32 ") == "clip:ViT-B/32"
    assert encoder_spec_matches("minilm", _Stub(MINILM_NAME, 384))
    assert encoder_spec_matches("clip:ViT-B/32", "clip:vit-b/32")
    assert not encoder_spec_matches("clip:ViT-B/32", _Stub("clip:ViT-B/16", 512))
    assert not encoder_spec_matches("clip:custom-aaaaaaaaaaaa", "clip:custom-bbbbbbbbbbbb")


def test_check_encoder_matches():
    check_encoder_matches("clip:ViT-B/32", _Stub("clip:ViT-B/32", 512), checkpoint_dim=512)
    check_encoder_matches("minilm", _Stub(MINILM_NAME, 384))
    with pytest.raises(EncoderMismatchError, match=r"'clip:ViT-B/32'.*'minilm:all-MiniLM-L6-v2'.*load_encoder") as ei:
        check_encoder_matches("clip:ViT-B/32", _Stub(MINILM_NAME, 384))
    assert isinstance(ei.value, EncoderError)
    with pytest.raises(EncoderMismatchError, match="same CLIP weights file"):
        check_encoder_matches("clip:custom-aaaaaaaaaaaa", _Stub("clip:ViT-B/32", 512))
    with pytest.raises(EncoderMismatchError, match="384-d"):
        check_encoder_matches("minilm", _Stub(MINILM_NAME, 512), checkpoint_dim=384)


def test_token_overflow_is_measured_by_each_encoder(tiny_clip, minilm):
    long = "a person walks forward and then " * 60  # ~360 tokens
    count, limit = tiny_clip.token_overflow(long)
    assert limit == int(tiny_clip._model.context_length) and count > limit
    assert tiny_clip.token_overflow("a person walks") is None
    assert minilm.token_overflow(long)[1] == 256 and minilm.token_overflow("walk") is None
