"""Benchmark: prompt -> baked action (60 and 600 frames), and the foreach_set bake against per-key
``keyframe_insert`` on the same motion, side by side in one run.

    .venv/bin/python benchmarks/bench_bake.py [--model DIR]

Uses the bundled model (assets/model) when present, else a small random checkpoint (timings of the
bake are unaffected; generation time then reflects the small network, and the output says so).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionclip_bench_"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from motionclip_blender.blender import bake, rig, runtime  # noqa: E402
from motionclip_blender.blender.prefs import ModelSettings  # noqa: E402
from motionclip_blender.blender.rigs import rig_for  # noqa: E402
from motionclip_blender.core.paths import model_dir  # noqa: E402
from motionclip_blender.core.motion.skeleton import JOINT_NAMES  # noqa: E402


def tiny_checkpoint() -> str:
    import torch

    from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
    from motionclip_blender.core.model.encoders import MINILM_DIM, MINILM_NAME
    from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

    torch.manual_seed(0)
    cfg = ModelConfig(d_model=64, latent_dim=MINILM_DIM, num_encoder_layers=1, num_decoder_layers=1, num_heads=2,
                      ff_size=64)
    out = Path(tempfile.mkdtemp()) / "tiny"
    save_checkpoint(MotionCLIPModel(cfg), CheckpointMeta(model=cfg, encoder=MINILM_NAME, encoder_dim=MINILM_DIM), out)
    return str(out)


def fresh_rig():
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 30
    arm, _ = rig.add_smpl_rig(bpy.context, with_body=False)
    return arm


def bake_keyframe_insert(arm, motion) -> None:
    """The naive path: set every channel and insert a key per bone per frame."""
    quats, loc = bake.motion_to_pose_channels(motion, *bake.rest_rotations(arm))
    bones = [arm.pose.bones[n] for n in JOINT_NAMES]
    root = bones[0]
    for f in range(len(motion)):
        root.location = loc[f]
        root.keyframe_insert("location", frame=f + 1)
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = quats[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)


def time_on_fresh_rig(fn, motion, repeats: int = 3) -> tuple[float, object]:
    """Best time of ``fn(arm, motion)``, each run on a new rig; the rig building is not timed."""
    best, arm = float("inf"), None
    for _ in range(repeats):
        arm = fresh_rig()
        t = time.perf_counter()
        fn(arm, motion)
        best = min(best, time.perf_counter() - t)
    return best, arm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--prompt", default="a person jumps")
    args = parser.parse_args()
    path = args.model or (str(model_dir()) if (model_dir() / "config.json").is_file() else None)
    label = path or "tiny random checkpoint (no bundled model found)"
    path = path or tiny_checkpoint()
    settings = ModelSettings(path=path)

    t = time.perf_counter()
    runtime.get_model(settings)
    load_s = time.perf_counter() - t
    print(f"model: {label}  (load {load_s:.2f} s, excluded below)")
    print(f"{'frames':>7} | {'generate':>9} | {'bake (foreach_set)':>18} | {'prompt->action':>14}")
    motions = {}
    for frames in (60, 600):
        seconds = frames / 30.0
        gen, bk = [], []
        for _ in range(3):
            arm = fresh_rig()
            t0 = time.perf_counter()
            motion, info = runtime.generate_motion(settings, args.prompt, seconds, 0)
            t1 = time.perf_counter()
            rig_for(bpy.context, arm).apply(motion, info)
            t2 = time.perf_counter()
            gen.append(t1 - t0)
            bk.append(t2 - t1)
        motions[frames] = motion
        g, b = min(gen), min(bk)
        print(f"{len(motion):>7} | {g * 1e3:>7.1f}ms | {b * 1e3:>16.1f}ms | {(g + b) * 1e3:>12.1f}ms")

    print("\nclean-up and length extension, 600 frames, warm prompt -> baked action (best of 3):")
    model = runtime.get_model(settings)

    def raw(arm):  # what v0.2 did: one latent decoded at full length, baked as is
        motion = model.decode(model.motion_latent(args.prompt), 600)
        rig_for(bpy.context, arm).apply(motion, {"prompt": args.prompt})

    def finished(arm, clean):
        motion, info = runtime.generate_motion(settings, args.prompt, 20.0, 0, clean_feet=clean)
        rig_for(bpy.context, arm).apply(motion, info)

    rows = {"decode 600 frames at once, no clean-up": lambda arm: raw(arm),
            "windows + extension, no clean-up": lambda arm: finished(arm, False),
            "windows + extension + foot clean-up (default)": lambda arm: finished(arm, True)}
    times = {name: time_on_fresh_rig(lambda arm, _m, f=fn: f(arm), None)[0] for name, fn in rows.items()}
    base = next(iter(times.values()))
    for name, sec in times.items():
        print(f"  {name:<46} {sec * 1e3:7.1f} ms  ({(sec / base - 1) * 100:+.0f} %)")

    print("\nbake only, same motion, best of 3:")
    print(f"{'frames':>7} | {'foreach_set':>11} | {'keyframe_insert':>15} | {'speed-up':>8}")
    for frames, motion in motions.items():
        fast_s, _ = time_on_fresh_rig(lambda arm, m: bake.bake_motion(arm, m, "fast"), motion)
        slow_s, slow_arm = time_on_fresh_rig(bake_keyframe_insert, motion, repeats=1 if frames > 100 else 3)
        # Sanity: the slow path wrote the same number of curves and keys.
        ad = slow_arm.animation_data
        fc = ad.action.layers[0].strips[0].channelbag(ad.action_slot).fcurves
        assert len(fc) == 99 and all(len(c.keyframe_points) == frames for c in fc)
        print(f"{frames:>7} | {fast_s * 1e3:>9.1f}ms | {slow_s * 1e3:>13.1f}ms | {slow_s / fast_s:>7.0f}x")


if __name__ == "__main__":
    main()
