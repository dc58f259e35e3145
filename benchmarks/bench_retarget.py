"""Benchmark: retarget + bake throughput onto a 65-bone rig (Mixamo-like, T-pose, 180° turned, finger chains),
and the SMPL -> rig -> SMPL round-trip error through Blender's evaluated pose, in one run.

    .venv/bin/python benchmarks/bench_retarget.py

Rows: the core math alone (Motion -> pose channels), the bake (foreach_set fcurves), both together, and the
operator path (read an SMPL rig's action frame by frame + retarget + bake).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="motionclip_bench_"))
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from addon_tests import rig_builders as rb  # noqa: E402
from motionclip_blender.blender import bake, retarget, rig  # noqa: E402
from motionclip_blender.core.motion import rotations as R  # noqa: E402
from motionclip_blender.core.motion.kinematics import forward_kinematics  # noqa: E402
from motionclip_blender.core.motion.motion import Motion  # noqa: E402
from motionclip_blender.core.rig.retarget import Retargeter  # noqa: E402
from addon_tests.rig_builders import angle_deg  # noqa: E402

BVH = REPO.parent / "shared" / "data" / "cmu" / "trials" / "07_01.bvh"


def walk(frames: int) -> Motion:
    """The CMU walk looped to ``frames`` (a smooth random motion when the data is not here)."""
    if BVH.is_file():
        from motionclip_blender.core.io.mocap import read_motion

        m = read_motion(str(BVH))
    else:
        g = torch.Generator().manual_seed(0)
        key = R.axis_angle_to_quaternion(torch.randn(9, 24, 3, generator=g) * 0.4)
        m = Motion(key.numpy(), np.tile([0.0, 0.0, 0.92], (9, 1)), 3.0).resample(30.0)
    reps = -(-frames // len(m))
    return Motion(np.tile(m.rotations, (reps, 1, 1))[:frames], np.tile(m.translation, (reps, 1))[:frames], m.fps)


build = rb.build_armature


def fresh():
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 30
    return build(rb.big_rig(65), "Rig65")


def best(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    import addon_utils

    addon_utils.enable("motionclip_blender", default_set=True, handle_error=None)  # for the operator row
    arm = fresh()
    n_bones = len(arm.data.bones)
    bone_map, label = retarget.resolve_map(arm)
    print(f"rig: {n_bones} bones, map {label}")
    print(f"{'frames':>7} | {'math':>9} | {'bake':>9} | {'math+bake':>10} | {'frames/s':>9} | "
          f"{'operator (read+retarget+bake)':>30}")
    for frames in (60, 600):
        motion = walk(frames)
        arm = fresh()
        rest = retarget.rig_rest(arm)
        rt = Retargeter(rest, bone_map)
        math_s, channels = best(lambda: rt.to_rig(motion))
        bake_s, _ = best(lambda: retarget.bake_channels(arm, channels, "bench"))
        both_s, _ = best(lambda: retarget.retarget_motion(bpy.context, arm, motion, "bench"))

        src, _ = rig.add_smpl_rig(bpy.context, with_body=False)
        bake.bake_motion(src, motion, "walk")
        op_s, _ = best(lambda: bpy.ops.motionclip.retarget(source=src.name, target=arm.name), repeats=2)
        print(f"{frames:>7} | {math_s * 1e3:>7.1f}ms | {bake_s * 1e3:>7.1f}ms | {both_s * 1e3:>8.1f}ms | "
              f"{frames / both_s:>9.0f} | {op_s * 1e3:>10.1f}ms = {frames / op_s:>6.0f} frames/s")

    # round trip through Blender: bake on the 65-bone rig, evaluate every frame, read back to SMPL
    motion = walk(600)
    arm = fresh()
    retarget.retarget_motion(bpy.context, arm, motion, "rt", start_frame=1)
    back = retarget.read_motion(bpy.context, arm, 1, len(motion))
    g = [forward_kinematics(m.matrices().double(), torch.from_numpy(m.translation).double())[1] for m in (motion, back)]
    rel = g[0].transpose(-1, -2) @ g[1]
    ang = np.degrees(np.arccos(np.clip((np.einsum("...ii", rel.numpy()) - 1) / 2, -1, 1)))
    mm = np.linalg.norm(back.joint_positions() - motion.joint_positions(), axis=-1) * 1000
    rt = Retargeter(retarget.rig_rest(arm), bone_map)
    bpy.context.scene.frame_set(200)
    dirs = angle_deg(rt.joint_directions(retarget.current_pose(arm, rt.rig)[None]), rt.smpl_directions(motion[199]))
    print(f"\nround trip SMPL -> {n_bones}-bone rig -> SMPL over {len(motion)} frames (Blender-evaluated pose):")
    print(f"  world joint rotation error: mean {ang.mean():.4f} deg, max {ang.max():.4f} deg")
    print(f"  joint position error: mean {mm.mean():.4f} mm, max {mm.max():.4f} mm")
    print(f"  bone direction error on the rig at frame 200: max {dirs.max():.4f} deg")


if __name__ == "__main__":
    main()
