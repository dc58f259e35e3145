"""Checkpoints: round trip, atomic writes, the official MotionCLIP layout, and clear errors."""

import json

import pytest
import torch

from motionclip_blender.core.model.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    import_official,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

CFG = ModelConfig(d_model=64, latent_dim=384, num_encoder_layers=2, num_decoder_layers=2, num_heads=4, ff_size=96)


def _meta(cfg=CFG, encoder="minilm:all-MiniLM-L6-v2"):
    return CheckpointMeta(model=cfg, encoder=encoder, encoder_dim=cfg.latent_dim, extra={"note": "test"})


def _same_outputs(a, b):
    torch.manual_seed(0)
    x = torch.randn(2, 30, 25, 6)
    mask = torch.ones(2, 30, dtype=torch.bool)
    za, ya, _ = a.eval()(x, mask)
    zb, yb, _ = b.eval()(x, mask)
    return torch.allclose(za, zb, atol=1e-5) and torch.allclose(ya, yb, atol=1e-5)


def test_round_trip(tmp_path):
    torch.manual_seed(1)
    net = MotionCLIPModel(CFG)
    save_checkpoint(net, _meta(), tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    assert (tmp_path / "ckpt").stat().st_mode & 0o755 == 0o755  # not mkdtemp's private 0700
    loaded, meta = load_checkpoint(tmp_path / "ckpt" / "model.safetensors")
    assert meta.model == CFG and meta.encoder == "minilm:all-MiniLM-L6-v2" and meta.extra == {"note": "test"}
    assert _same_outputs(net, loaded)


def test_overwrite_is_atomic_and_keeps_side_files(tmp_path):
    net = MotionCLIPModel(CFG)
    target = tmp_path / "ckpt"
    save_checkpoint(net, _meta(), target)
    (target / "MODEL_CARD.md").write_text("card")
    torch.manual_seed(5)
    net2 = MotionCLIPModel(CFG)
    save_checkpoint(net2, _meta(), target)
    loaded, _ = load_checkpoint(target)
    assert _same_outputs(net2, loaded)
    assert (target / "MODEL_CARD.md").read_text() == "card"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary leftovers


def test_half_precision_storage(tmp_path):
    net = MotionCLIPModel(CFG)
    save_checkpoint(net, _meta(), tmp_path / "full")
    save_checkpoint(net, _meta(), tmp_path / "half", half=True)
    full = (tmp_path / "full" / "model.safetensors").stat().st_size
    half = (tmp_path / "half" / "model.safetensors").stat().st_size
    assert half < 0.6 * full
    loaded, _ = load_checkpoint(tmp_path / "half")
    assert loaded.encoder.skelEmbedding.weight.dtype == torch.float32


def test_errors_missing_truncated_mismatched(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    net = MotionCLIPModel(CFG)
    save_checkpoint(net, _meta(), tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_checkpoint(tmp_path / "ckpt", verify=False)
    # config says a different architecture than the weights hold
    save_checkpoint(net, _meta(), tmp_path / "ckpt2")
    cfg = json.loads((tmp_path / "ckpt2" / "config.json").read_text())
    del cfg["config_sha256"]  # as a hand-written config without a digest would be
    cfg["model"]["num_encoder_layers"] = 3
    (tmp_path / "ckpt2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit the config"):
        load_checkpoint(tmp_path / "ckpt2")
    cfg["model"]["num_encoder_layers"] = 2
    cfg["model"]["ff_size"] = 128  # same keys, other shapes
    (tmp_path / "ckpt2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit the config"):
        load_checkpoint(tmp_path / "ckpt2")
    cfg["format"] = "something-else"
    (tmp_path / "ckpt2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not a MotionCLIP-Blender checkpoint"):
        read_meta(tmp_path / "ckpt2")
    (tmp_path / "ckpt3").mkdir()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_checkpoint(tmp_path / "ckpt3")


def _official_state_dict(d=64, enc_layers=2, dec_layers=2, ff=96, classes=3):
    """A state dict laid out as the paper's code saves it, built from torch's own layers."""
    torch.manual_seed(2)
    enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(d, 4, ff, 0.1, "gelu"), enc_layers,
                                      enable_nested_tensor=False)
    dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(d, 4, ff, 0.1, "gelu"), dec_layers)
    sd = {"encoder.muQuery": torch.randn(classes, d), "encoder.sigmaQuery": torch.randn(classes, d),
          "encoder.skelEmbedding.weight": torch.randn(d, 150), "encoder.skelEmbedding.bias": torch.randn(d),
          "encoder.sequence_pos_encoder.pe": torch.zeros(5000, 1, d),
          "decoder.actionBiases": torch.randn(1, d), "decoder.sequence_pos_encoder.pe": torch.zeros(5000, 1, d),
          "decoder.finallayer.weight": torch.randn(150, d), "decoder.finallayer.bias": torch.randn(150),
          "clip_model.token_embedding.weight": torch.randn(10, 8)}
    sd.update({f"encoder.seqTransEncoder.{k}": v for k, v in enc.state_dict().items()})
    sd.update({f"decoder.seqTransDecoder.{k}": v for k, v in dec.state_dict().items()})
    return sd


def test_import_official_layout(tmp_path):
    sd = _official_state_dict()
    torch.save(sd, tmp_path / "paper.pth.tar")
    net, meta = import_official(tmp_path / "paper.pth.tar")
    cfg = net.config
    assert (cfg.d_model, cfg.num_encoder_layers, cfg.num_decoder_layers, cfg.ff_size) == (64, 2, 2, 96)
    assert not cfg.normalize_latent and meta.feature_frame == "smpl" and meta.encoder == "clip:ViT-B/32"
    assert torch.equal(net.encoder.muQuery, sd["encoder.muQuery"][:1])
    assert torch.equal(net.decoder.seqTransDecoder.layers[1].multihead_attn.in_proj_weight,
                       sd["decoder.seqTransDecoder.layers.1.multihead_attn.in_proj_weight"])
    # the paper's input layout [batch, 25, 6, frames] is our (batch, frames, 25, 6) transposed
    x = torch.randn(1, 25, 6, 20)
    z = net.encode(x.permute(0, 3, 1, 2))
    assert z.shape == (1, 64)
    # converted checkpoints save and load as ours
    save_checkpoint(net, meta, tmp_path / "converted")
    again, meta2 = load_checkpoint(tmp_path / "converted")
    assert meta2.feature_frame == "smpl" and _same_outputs(net, again)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the deliberately foreign file below
def test_import_official_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        import_official(tmp_path / "x.pt")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a MotionCLIP checkpoint"):
        import_official(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        import_official(tmp_path / "junk.pt")
    sd = _official_state_dict()
    del sd["decoder.finallayer.bias"]
    torch.save(sd, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        import_official(tmp_path / "partial.pt")


@pytest.mark.parametrize("field, value", [("fps", 24.0), ("feature_frame", "smpl"), (("model", "activation"), "relu"),
                                          (("model", "num_heads"), 8)])


def test_every_config_field_is_covered_by_the_integrity_check(tmp_path, field, value):
    save_checkpoint(MotionCLIPModel(CFG), _meta(), tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "config.json"
    cfg = json.loads(path.read_text())
    if isinstance(field, tuple):
        cfg[field[0]][field[1]] = value
    else:
        cfg[field] = value
    path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="edited after it was written"):
        load_checkpoint(tmp_path / "ckpt")


@pytest.mark.parametrize("content, message", [
    (b"[]", "a JSON list"), (b"null", "a JSON NoneType"), (b"\xff\xfe not utf-8", "unreadable config"),
    (None, "format_version must be a whole number"), ("num_heads", "num_heads must be a positive whole number"),
    ("fps", "fps must be between"), ("frames", "frames must be between"),
])


def test_broken_configs_are_named(tmp_path, content, message):
    save_checkpoint(MotionCLIPModel(CFG), _meta(), tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "config.json"
    cfg = json.loads(path.read_text())
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        if content is None:
            cfg["format_version"] = "2"
        elif content == "num_heads":
            cfg["model"]["num_heads"] = 0
        else:
            cfg[content] = 0
        path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "ckpt")
