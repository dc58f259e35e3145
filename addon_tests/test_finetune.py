"""motionclip finetune: image alignment with the tiny CLIP (real clip.load), resume, space checks.

The rendered set here is synthetic (PIL drawings standing in for Blender renders, same manifest format) so this
file runs without bpy; addon_tests/blender/test_render.py covers real renders -> finetune -> the add-on.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motionclip_blender.core.model.api import load_model
from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
from motionclip_blender.core.model.encoders import MINILM_DIM, MINILM_NAME, load_encoder
from motionclip_blender.core.training.finetune import FinetuneConfig, FinetuneError, finetune
from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel
from motionclip_blender.core.motion.motion import Motion


def small_checkpoint(path, encoder_name: str, dim: int, seed: int = 0) -> str:
    torch.manual_seed(seed)
    cfg = ModelConfig(d_model=32, latent_dim=dim, num_encoder_layers=1, num_decoder_layers=1, num_heads=2,
                      ff_size=64, dropout=0.0)
    save_checkpoint(MotionCLIPModel(cfg), CheckpointMeta(model=cfg, encoder=encoder_name, encoder_dim=dim,
                                                         frames=20), path)
    return str(path)


def fake_renders(root, n_motions: int = 3, k: int = 2) -> str:
    """A render manifest with motions and coloured-blob PNGs standing in for Blender frames."""
    from PIL import Image, ImageDraw

    (root / "images").mkdir(parents=True)
    (root / "motions").mkdir()
    rng = np.random.default_rng(0)
    motions, items = [], []
    for m in range(n_motions):
        motion = Motion.rest(30)
        motion.rotations[:, 18] = [np.cos(0.2 * m), np.sin(0.2 * m), 0, 0]  # each motion bends an elbow differently
        motion.translation[:, 1] -= np.linspace(0, 0.5 * m, 30)
        motion.save_npz(root / "motions" / f"m{m}.npz")
        label = ["a person walks", "a person waves", "a person jumps"][m % 3]
        motions.append({"id": f"m{m}", "label": label, "motion": f"motions/m{m}.npz", "frames": 30, "fps": 30.0})
        for f in np.linspace(0, 29, k).round().astype(int):
            img = Image.new("RGB", (224, 224), "white")
            x, y = rng.integers(40, 180, 2)
            ImageDraw.Draw(img).ellipse([x - 30, y - 60, x + 30, y + 60], fill=(200, 140, 90))
            rel = f"images/m{m}_f{f:04d}.png"
            img.save(root / rel)
            items.append({"motion_id": f"m{m}", "frame": int(f), "path": rel, "label": label})
    (root / "manifest.json").write_text(json.dumps({"format": "motionclip-render-manifest", "format_version": 1,
                                                    "motions": motions, "items": items}))
    return str(root / "manifest.json")


@pytest.fixture(scope="module")
def clip_space(tiny_clip_path):
    enc = load_encoder("clip:" + tiny_clip_path)
    assert enc.dim == 32
    return enc


def test_finetune_lowers_image_loss_and_loads(tmp_path, tiny_clip_path, clip_space, capsys):
    model = small_checkpoint(tmp_path / "base", clip_space.name, clip_space.dim)
    manifest = fake_renders(tmp_path / "renders")
    cfg = FinetuneConfig(model=model, renders=manifest, clip="clip:" + tiny_clip_path, out=str(tmp_path / "run"),
                         steps=15, batch_size=6, lr=1e-3, checkpoint_every=5)
    s = finetune(cfg, progress=False)
    print(f"image-alignment loss before {s['before']['image']:.4f} after {s['after']['image']:.4f} "
          f"({s['steps_per_second']:.1f} steps/s)")
    assert s["step"] == 15 and s["frames"] == 6
    assert s["after"]["image"] < s["before"]["image"] - 0.05
    loaded = load_model(s["checkpoint"], encoder="clip:" + tiny_clip_path)
    assert loaded.meta.encoder == clip_space.name and loaded.meta.extra["finetune"]["steps"] == 15
    z = loaded.encode(Motion.load_npz(tmp_path / "renders" / "motions" / "m1.npz"))
    assert z.shape == (32,) and torch.isfinite(z).all()
    assert len(loaded.generate("a person waves", frames=20)) == 20
    assert json.loads((tmp_path / "run" / "finetune_summary.json").read_text())["step"] == 15


def test_finetune_resumes_from_saved_step(tmp_path, tiny_clip_path, clip_space, capsys):
    model = small_checkpoint(tmp_path / "base", clip_space.name, clip_space.dim)
    manifest = fake_renders(tmp_path / "renders", n_motions=2)
    kw = dict(model=model, renders=manifest, clip="clip:" + tiny_clip_path, out=str(tmp_path / "run"), batch_size=4,
              lr=1e-3, checkpoint_every=2)
    first = finetune(FinetuneConfig(steps=4, **kw), progress=False)
    assert first["start_step"] == 0 and first["step"] == 4
    second = finetune(FinetuneConfig(steps=6, **kw), progress=True)
    assert second["start_step"] == 4 and second["step"] == 6
    assert "resuming from step 4" in capsys.readouterr().out
    assert second["before"] == first["before"]  # the baseline is the original model's, kept in the state
    state = torch.load(tmp_path / "run" / "finetune_state.pt", weights_only=True)
    assert state["step"] == 6


def test_mismatched_space_is_refused(tmp_path, tiny_clip_path):
    model = small_checkpoint(tmp_path / "minilm", MINILM_NAME, MINILM_DIM)
    manifest = fake_renders(tmp_path / "renders", n_motions=1)
    cfg = FinetuneConfig(model=model, renders=manifest, clip="clip:" + tiny_clip_path, out=str(tmp_path / "run"))
    with pytest.raises(FinetuneError, match="cannot fine-tune against CLIP images.*minilm.*motionclip train"):
        finetune(cfg, progress=False)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_bad_manifest_is_refused(tmp_path, tiny_clip_path, clip_space):
    model = small_checkpoint(tmp_path / "base", clip_space.name, clip_space.dim)
    (tmp_path / "m.json").write_text('{"format": "something else"}')
    cfg = FinetuneConfig(model=model, renders=str(tmp_path / "m.json"), clip="clip:" + tiny_clip_path,
                         out=str(tmp_path / "run"))
    with pytest.raises(FinetuneError, match="not a MotionCLIP render manifest"):
        finetune(cfg, progress=False)


def test_cli_finetune(tmp_path, tiny_clip_path, clip_space, capsys):
    from motionclip_blender.core.cli import main

    model = small_checkpoint(tmp_path / "base", clip_space.name, clip_space.dim)
    manifest = fake_renders(tmp_path / "renders", n_motions=1)
    rc = main(["finetune", "--model", model, "--renders", manifest, "--clip", "clip:" + tiny_clip_path,
               "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2"])
    assert rc == 0 and "image loss" in capsys.readouterr().out
    rc = main(["finetune", "--model", small_checkpoint(tmp_path / "m", MINILM_NAME, MINILM_DIM), "--renders", manifest,
               "--clip", "clip:" + tiny_clip_path, "--out", str(tmp_path / "run2")])
    assert rc == 2 and "cannot fine-tune against CLIP images" in capsys.readouterr().err
