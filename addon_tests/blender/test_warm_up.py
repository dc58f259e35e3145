"""The first click is fast: enabling the add-on loads torch and the model in the background without blocking,
and a Generate called 5 s later finishes within 1.5 s. Measured in a fresh process, as Blender starts."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import os, sys, tempfile, time
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
sys.path.insert(0, {repo!r})
import bpy, addon_utils
t = time.perf_counter()
addon_utils.enable("motionclip_blender", default_set=True, handle_error=None)
print("ENABLE_S", time.perf_counter() - t)
time.sleep(5)
bpy.ops.motionclip.add_smpl_rig()
t = time.perf_counter()
assert bpy.ops.motionclip.generate(prompt="a person walks forward", seconds=2.0) == {{'FINISHED'}}
print("FIRST_GENERATE_S", time.perf_counter() - t)
"""


def _timings(env) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(repo=str(REPO))], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return {k: float(v) for k, v in (l.split() for l in out.stdout.splitlines() if l.endswith(tuple("0123456789"))
                                     and l.split()[0] in ("ENABLE_S", "FIRST_GENERATE_S"))}


def test_first_generate_five_seconds_after_enabling_takes_under_1_5_s():
    env = {k: v for k, v in os.environ.items() if k != "MOTIONCLIP_NO_WARMUP"}
    times = _timings(env)
    print(times)
    assert times["ENABLE_S"] < 1.0  # the warm-up runs in the background
    assert times["FIRST_GENERATE_S"] <= 1.5
