"""Benchmark: text search over 100 motions, first (encoding every motion) and second (latents cached) search.

    .venv/bin/python benchmarks/bench_search.py [--model DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from motionclip_blender.core.model.api import load_model  # noqa: E402
from motionclip_blender.core.motion.motion import Motion  # noqa: E402
from motionclip_blender.core.model.search import LatentCache, rank  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    model = load_model(args.model)
    rng = np.random.default_rng(0)
    motions = {}
    for i in range(100):  # 100 two-second clips: generated takes stand in for a file's actions
        motions[f"take{i}"] = model.generate(["a person walks", "a person jumps", "a person kicks"][i % 3],
                                             seed=int(rng.integers(1, 10_000)))
    cache = LatentCache()
    for label in ("first search (encodes 100 motions)", "second search (cached latents)"):
        start = time.perf_counter()
        rank(model, "a person kicks", motions, top_k=10, cache=cache)
        print(f"{label}: {(time.perf_counter() - start) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
