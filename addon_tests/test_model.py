"""The transformer auto-encoder: shapes, padding masks, any length, and that it learns."""

import pytest
import torch

from motionclip_blender.core.training.losses import LossWeights, reconstruction_losses, total_loss
from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel, lengths_to_mask

SMALL = ModelConfig(d_model=64, latent_dim=48, num_encoder_layers=2, num_decoder_layers=2, num_heads=4,
                    ff_size=128, dropout=0.0, max_frames=256)


@pytest.mark.parametrize("frames", [30, 60, 120])
def test_shapes_for_lengths(frames):
    torch.manual_seed(0)
    net = MotionCLIPModel(SMALL).eval()
    x = torch.randn(3, frames, 25, 6)
    z, out, from_text = net(x, torch.ones(3, frames, dtype=torch.bool))
    assert z.shape == (3, 48) and out.shape == (3, frames, 25, 6) and from_text is None
    assert net.decode(z, frames=frames + 7).shape == (3, frames + 7, 25, 6)


def test_padding_is_ignored_by_encoder_and_zeroed_by_decoder():
    torch.manual_seed(0)
    net = MotionCLIPModel(SMALL).eval()
    x = torch.randn(2, 40, 25, 6)
    mask = lengths_to_mask(torch.tensor([40, 25]), 40)
    z = net.encode(x, mask)
    x2 = x.clone()
    x2[1, 25:] = 99.0  # garbage in the padded frames must not change the latent
    assert torch.allclose(net.encode(x2, mask), z, atol=1e-5)
    # the short sequence alone gives the same latent as padded
    assert torch.allclose(net.encode(x[1:, :25]), z[1:], atol=1e-5)
    out = net.decode(z, mask=mask)
    assert (out[1, 25:] == 0).all() and (out[1, :25] != 0).any()


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=65, num_heads=4)
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"d_model": 64, "layers": 3})


def test_paper_preset():
    cfg = ModelConfig.paper()
    assert (cfg.d_model, cfg.num_encoder_layers, cfg.num_decoder_layers, cfg.num_heads, cfg.ff_size) == (512, 8, 8, 4, 1024)
    assert cfg.activation == "gelu" and cfg.dropout == 0.1


def test_overfits_a_small_batch():
    """Losses and gradients flow: a tiny batch is reconstructed to near zero."""
    from motionclip_blender.core.motion import rotations as R

    torch.manual_seed(0)
    net = MotionCLIPModel(SMALL)
    g = torch.Generator().manual_seed(3)
    frames = 12
    rot = R.axis_angle_to_matrix(torch.cumsum(torch.randn(2, frames, 24, 3, generator=g) * 0.05, dim=1))
    x = torch.zeros(2, frames, 25, 6)
    x[:, :, :24] = R.matrix_to_rot6d(rot)
    x[:, :, 24, :3] = torch.cumsum(torch.randn(2, frames, 3, generator=g) * 0.02, dim=1)
    mask = torch.ones(2, frames, dtype=torch.bool)
    weights = LossWeights(text=0, image=0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    first = None
    for _ in range(200):
        _, out, _ = net(x, mask)
        loss = total_loss(reconstruction_losses(out, x, mask, weights), weights)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    # from ~1.8 to below 1 % of it: every loss term and its gradient reach the parameters
    assert loss.item() < 0.01 * first, (first, loss.item())


def test_losses_respect_mask():
    x = torch.randn(2, 10, 25, 6)
    y = x.clone()
    mask = lengths_to_mask(torch.tensor([10, 6]), 10)
    y[1, 6:] += 5.0  # differences only in padding
    losses = reconstruction_losses(y, x, mask, LossWeights())
    assert all(float(v) < 1e-10 for v in losses.values())
    with pytest.raises(ValueError, match="zero"):
        total_loss({}, LossWeights())


def test_standardised_features_round_trip_through_a_checkpoint(tmp_path):
    """With normalize_features the network works in standardised units but reads and writes real features:
    the stats ride in the checkpoint, and a decoder that outputs zeros (in its units) gives back the mean."""
    from motionclip_blender.core.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint

    cfg = ModelConfig(d_model=32, latent_dim=384, num_encoder_layers=1, num_decoder_layers=1, num_heads=4,
                      ff_size=32, normalize_features=True)
    net = MotionCLIPModel(cfg)
    torch.manual_seed(0)
    feats = torch.randn(4, 30, 25, 6) * torch.linspace(0.1, 3.0, 6) + 2.0
    feats[:, :, 24, 3:] = 0  # the root row's padding never changes
    mask = torch.ones(4, 30, dtype=torch.bool)
    mask[0, 20:] = False
    net.set_feature_stats(feats, mask)
    assert torch.allclose(net.feature_mean[:24], feats[mask].mean(0)[:24], atol=1e-5)
    assert torch.all(net.feature_std[24, 3:] == 1.0) and net.feature_std.min() >= 0.1
    torch.nn.init.zeros_(net.decoder.finallayer.weight)
    torch.nn.init.zeros_(net.decoder.finallayer.bias)
    out = net.decode(torch.randn(2, 384), 10)
    assert torch.allclose(out, net.feature_mean.expand(2, 10, 25, 6))
    save_checkpoint(net, CheckpointMeta(model=cfg, encoder="minilm:all-MiniLM-L6-v2", encoder_dim=384), tmp_path / "c")
    loaded, _ = load_checkpoint(tmp_path / "c")
    assert torch.equal(loaded.feature_std, net.feature_std) and torch.equal(loaded.feature_mean, net.feature_mean)
    x = torch.randn(2, 30, 25, 6)
    assert torch.allclose(loaded.encode(x), net.eval().encode(x), atol=1e-5)
