"""Training throughput (steps/s, samples/s) for the bundled and the paper configs, and generate latency
for 60 and 600 frames, measured side by side in one run on this machine.

    .venv/bin/python benchmarks/bench_train.py [--steps 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from motionclip_blender.core.api import load_model
from motionclip_blender.core.losses import LossWeights
from motionclip_blender.core.model import MotionCLIPModel
from motionclip_blender.core.paths import model_dir
from motionclip_blender.core.train import TrainConfig, step_losses
from motionclip_blender.core.losses import total_loss

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
