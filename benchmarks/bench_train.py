"""Training throughput (steps/s, samples/s) for the bundled and the paper configs, and generate latency
for 60 and 600 frames, measured side by side in one run on this machine.

    .venv/bin/python benchmarks/bench_train.py [--steps 5]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from motionclip_blender.core.model.api import load_model
from motionclip_blender.core.training.losses import LossWeights
from motionclip_blender.core.model.network import MotionCLIPModel
from motionclip_blender.core.paths import model_dir
from motionclip_blender.core.training.train import TrainConfig, make_sampler, step_losses
from motionclip_blender.core.training.losses import total_loss

ROOT = Path(__file__).resolve().parents[1]


def train_throughput(cfg: TrainConfig, steps: int) -> tuple[float, float]:
    torch.manual_seed(0)
    net = MotionCLIPModel(cfg.model).train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    b, t = cfg.batch_size, cfg.frames
    # random but valid features: the cost does not depend on the values
    x = torch.randn(b, t, 25, 6)
    mask = torch.ones(b, t, dtype=torch.bool)
    text = torch.nn.functional.normalize(torch.randn(b, cfg.model.latent_dim), dim=-1)
    weights: LossWeights = cfg.losses

    def step():
        loss = total_loss(step_losses(net, x, x, mask, text, weights), weights)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - start) / steps
    return 1.0 / per_step, b / per_step


def sampling_ms(cfg: TrainConfig, augmented: bool, batches: int = 5) -> float:
    """Milliseconds to draw one training batch from synthetic clips (the data side of a step)."""
    from motionclip_blender.core.training.dataset import Clip
    from motionclip_blender.core.motion.motion import Motion

    rng = torch.Generator().manual_seed(0)
    clips = []
    for i, n in enumerate((90, 400, 1200)):  # a short action, a walk, a long playground trial
        rot = torch.nn.functional.normalize(torch.randn(n, 24, 4, generator=rng), dim=-1)
        clips.append(Clip(str(i), "walk", Motion(rot.numpy(), torch.zeros(n, 3).numpy(), 30)))
    if not augmented:
        cfg = replace(cfg, rest_jitter_prob=0.0, centre_short_trials=False)
    sampler = make_sampler(cfg, clips, seed=0)
    start = time.perf_counter()
    for _ in range(batches):
        sampler.sample(cfg.batch_size)
    return (time.perf_counter() - start) / batches * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = {}
    for name in ("bundled", "paper"):
        cfg = TrainConfig.from_file(ROOT / "configs" / f"{name}.json")
        rows[name] = train_throughput(cfg, args.steps)
        print(f"train {name:8s}: {rows[name][0]:6.2f} steps/s  {rows[name][1]:7.1f} samples/s "
              f"(batch {cfg.batch_size}, {sum(p.numel() for p in MotionCLIPModel(cfg.model).parameters()) / 1e6:.1f} M params)")
    print(f"bundled / paper steps-per-second ratio: {rows['bundled'][0] / rows['paper'][0]:.1f}x")
    bundled = TrainConfig.from_file(ROOT / "configs" / "bundled.json")
    plain, augmented = sampling_ms(bundled, False), sampling_ms(bundled, True)
    step_ms = 1000 / rows["bundled"][0]
    print(f"sample a bundled batch: {plain:.0f} ms plain, {augmented:.0f} ms with convention augmentation "
          f"({augmented / plain:.1f}x); a training step takes {step_ms:.0f} ms ({augmented / step_ms:.0%} of it)")
    if (model_dir() / "config.json").is_file():
        model = load_model()
        model.generate("warm up", frames=60)
        for frames in (60, 600):
            start = time.perf_counter()
            for _ in range(3):
                model.generate("a person walks forward", frames=frames)
            print(f"generate {frames:4d} frames: {(time.perf_counter() - start) / 3 * 1000:7.1f} ms")
    else:
        print("generate latency: skipped (no bundled model in assets/model)")


if __name__ == "__main__":
    main()
