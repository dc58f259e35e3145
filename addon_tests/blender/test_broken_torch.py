"""torch present but broken (a shared library missing): every model operator refuses with the same one-line
message that says what to do, no traceback, nothing made. Run in a fresh process with a fake torch first on
the path, as a damaged install would look."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import os, sys, tempfile
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
sys.path.insert(0, {fake!r})
sys.path.insert(1, {repo!r})
import bpy, addon_utils
addon_utils.enable("motionclip_blender", default_set=True, handle_error=None)
bpy.ops.motionclip.add_smpl_rig()
calls = {{
    "generate": dict(prompt="a person walks"),
    "blend": dict(mode="MIX", prompt_a="walk", prompt_b="run"),
    "interpolate": dict(prompt_a="walk", prompt_b="run"),
    "variations": dict(prompt="walk"),
}}
for name, kwargs in calls.items():
    actions = len(bpy.data.actions)
    try:
        getattr(bpy.ops.motionclip, name)(**kwargs)
        print("NO_ERROR", name)
    except RuntimeError as exc:
        print("REPORT", name, "|", str(exc).replace("\n", " / "))
    assert len(bpy.data.actions) == actions
"""


def test_a_broken_torch_gets_one_clear_message_everywhere(tmp_path):
    fake = tmp_path / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(
        'raise OSError("libtorch_cpu.so: cannot open shared object file: No such file or directory")\n')
    env = {"MOTIONCLIP_NO_WARMUP": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(fake=str(fake), repo=str(REPO))],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    reports = [l for l in out.stdout.splitlines() if l.startswith(("REPORT", "NO_ERROR"))]
    assert len(reports) == 4 and all(l.startswith("REPORT") for l in reports), out.stdout
    for line in reports:
        message = line.split("|", 1)[1]
        assert "torch is installed but cannot be imported (OSError: libtorch_cpu.so" in message, line
        assert "Install Dependencies" in message and message.count("torch is installed") == 1, line
    assert "Traceback" not in out.stderr


BLOCKED = r"""
import os, sys, tempfile
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
sys.path.insert(0, {repo!r})

import bpy, addon_utils
addon_utils.enable("motionclip_blender", default_set=True, handle_error=None)
print("PANELS", sorted(c for c in dir(bpy.types) if c.startswith("VIEW3D_PT_motionclip")))
print("TORCH_LOADED", "torch" in sys.modules)
bpy.ops.motionclip.add_smpl_rig()
try:
    bpy.ops.motionclip.generate(prompt="a person walks")
except RuntimeError as exc:
    print("REPORT", str(exc).replace("\n", " / "))
"""


def test_the_add_on_enables_without_torch_and_generate_names_what_is_missing(tmp_path):
    """Without torch the add-on must still enable (its preferences offer the installer): nothing registering
    imports torch, and Generate says what is missing. Run on a copy of site-packages without torch (``-S``:
    only that copy is on the path), as a Blender without the dependencies installed looks."""
    import site

    packages = Path(next(p for p in site.getsitepackages() if Path(p, "bpy").is_dir()))
    bare = tmp_path / "site"
    bare.mkdir()
    for entry in packages.iterdir():
        if not entry.name.startswith(("torch", "functorch")):
            (bare / entry.name).symlink_to(entry)
    env = {"MOTIONCLIP_NO_WARMUP": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(bare)}
    out = subprocess.run([sys.executable, "-S", "-c", BLOCKED.format(repo=str(REPO))], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TORCH_LOADED False" in out.stdout
    assert "VIEW3D_PT_motionclip'" in out.stdout and "VIEW3D_PT_motionclip_latent" in out.stdout
    report = next(l for l in out.stdout.splitlines() if l.startswith("REPORT"))
    assert "torch" in report and "Install Dependencies" in report, report
