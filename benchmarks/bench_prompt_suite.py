"""Benchmark: the public prompt suite on the bundled model (or --model DIR), generated beside real windows.

    .venv/bin/python benchmarks/bench_prompt_suite.py [--model DIR] [--variations 3] [--json out.json]

Prints the table the model card carries: per prompt, whether the clip generated with seed None (and how many
seeded variations) pass their family's physical criterion, pose energy and the measured figures, next to the
same criterion's pass rate and pose energy on real windows of the family; then plausibility, generated vs real.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from motionclip_blender.core.paths import data_root  # noqa: E402
from motionclip_blender.core.training.suite_eval import evaluate_prompts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default=str(data_root()))
    parser.add_argument("--variations", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    data = args.data if Path(args.data, "cmu", "index.json").is_file() else None
    start = time.perf_counter()
    evaluate_prompts(args.model, None, data, ("cmu", "hdm05"), args.json, args.variations)
    print(f"\nprompt suite: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
