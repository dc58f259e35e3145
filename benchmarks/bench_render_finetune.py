"""Benchmark: rendered frames per second (Workbench, 224x224, mannequin) and fine-tune steps per second.

    .venv/bin/python benchmarks/bench_render_finetune.py [--motions 4] [--frames-per-motion 8] [--steps 20]
        [--clip clip:/path/ViT-B-32.pt] [--paper]

Rendering: ``render_dataset`` on generated test motions; the per-frame rate excludes the one-off scene set-up
(reported separately, it includes Blender's first-render shader warm-up). Fine-tuning: without ``--clip`` a tiny
random CLIP (the test suite's, built with clip.model and loaded through the real clip.load) stands in for
ViT-B/32, so steps/s reflect the motion model (``--paper``: the paper's 512-d, 8+8-layer size), not CLIP, which
runs only once up front to embed the frames (that time is printed too).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionclip_bench_"))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "addon_tests"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from motionclip_blender.blender import demo, render  # noqa: E402
from motionclip_blender.core.motion.motion import Motion  # noqa: E402


def motions(n: int, frames: int = 60) -> list[render.MotionSource]:
    out = []
    for i in range(n):
        m = Motion.rest(frames)
        t = np.linspace(0, 1, frames)
        a = 0.3 + 0.2 * i
        m.rotations[:, 16] = np.stack([np.cos(a * t), 0 * t, np.sin(a * t), 0 * t], -1)
        m.rotations[:, 4] = np.stack([np.cos(a * t), np.sin(a * t), 0 * t, 0 * t], -1)
        m.translation[:, 1] -= t * i * 0.3
        out.append(render.MotionSource(f"m{i}", f"a person moves {i}", motion=m))
    return out


def bench_render(n: int, k: int, out: Path) -> Path:
    demo.preload_triton()  # as render_dataset does; kept outside the timing
    job = render.RenderJob(motions(n), out, frames_per_motion=k)
    t0 = time.perf_counter()
    gen = job.steps()
    next(gen)  # set-up + the first frame (shader warm-up)
    t1 = time.perf_counter()
    for _ in gen:
        pass
    t2 = time.perf_counter()
    rate = (job.total - 1) / (t2 - t1)
    print(f"render (Workbench, 224x224): {job.total} frames; set-up + first frame {t1 - t0:.2f} s; "
          f"then {rate:.1f} frames/s ({1000 / rate:.0f} ms/frame)")
    return job.manifest_path


def bench_finetune(manifest: Path, clip_spec: str | None, steps: int, paper: bool, work: Path) -> None:
    import torch

    from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
    from motionclip_blender.core.model.encoders import load_encoder
    from motionclip_blender.core.training.finetune import FinetuneConfig, finetune
    from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

    if clip_spec is None:
        from conftest import build_tiny_clip

        torch.save(build_tiny_clip().state_dict(), work / "tiny_clip.pt")
        clip_spec = f"clip:{work / 'tiny_clip.pt'}"
    enc = load_encoder(clip_spec)
    cfg = ModelConfig(latent_dim=enc.dim) if paper else ModelConfig(
        d_model=256, latent_dim=enc.dim, num_encoder_layers=4, num_decoder_layers=4, num_heads=4, ff_size=512)
    torch.manual_seed(0)
    save_checkpoint(MotionCLIPModel(cfg), CheckpointMeta(model=cfg, encoder=enc.name, encoder_dim=enc.dim), work / "base")
    t0 = time.perf_counter()
    s = finetune(FinetuneConfig(model=str(work / "base"), renders=str(manifest), clip=clip_spec, out=str(work / "ft"),
                                steps=steps, batch_size=16, lr=1e-4, checkpoint_every=steps), progress=False)
    total = time.perf_counter() - t0
    size = "paper 512-d 8+8 layers" if paper else "256-d 4+4 layers"
    print(f"fine-tune ({size}, batch 16, 60-frame windows, {enc.name}): "
          f"{s['steps_per_second']:.2f} steps/s over {steps} steps; whole run incl. loading + {s['frames']} CLIP "
          f"image embeddings {total:.1f} s; image loss {s['before']['image']:.4f} -> {s['after']['image']:.4f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--motions", type=int, default=4)
    p.add_argument("--frames-per-motion", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--clip", default=None, help="CLIP spec (default: a tiny random CLIP)")
    p.add_argument("--paper", action="store_true", help="fine-tune the paper-size model")
    args = p.parse_args()
    import torch

    print(f"torch threads: {torch.get_num_threads()}, cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="motionclip_bench_") as tmp:
        manifest = bench_render(args.motions, args.frames_per_motion, Path(tmp) / "renders")
        bench_finetune(manifest, args.clip, args.steps, args.paper, Path(tmp))


if __name__ == "__main__":
    main()
