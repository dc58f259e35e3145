"""Build the installable Blender extension zip (no Blender binary needed).

    python tools/build_extension.py --output-dir dist   (make extension)

An extension zip's root must hold ``blender_manifest.toml`` and the add-on's ``__init__.py``, but in the
repository the manifest and ``assets/`` sit beside the package. So the package is copied into a staging
directory together with the manifest (its version stamped from ``motionclip_blender.__version__``, the one
place the version is written), the licence and ``assets/`` (the bundled model), and Blender's own
``blender_ext.py`` (shipped inside the ``bpy`` wheel) validates and builds from there. At runtime
``core/paths.assets_dir()`` finds ``<package>/assets`` in the installed extension.

This module never imports ``bpy`` (it only locates Blender's scripts), so it runs in any Python.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_DIR / "motionclip_blender"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


class BuildError(RuntimeError):
    pass


def blender_ext_script() -> Path:
    """Blender's extension CLI inside the installed ``bpy`` module (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the 'bpy' module is not installed: pip install bpy==5.0.1 (it ships blender_ext.py)")
    for root in spec.submodule_search_locations:
        hits = sorted(Path(root).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    raise BuildError("blender_ext.py not found inside the bpy module")


def package_version() -> str:
    """``motionclip_blender.__version__``, read from the source (the package may not be importable here)."""
    match = re.search(r'^__version__ = "([^"]+)"', (PACKAGE_DIR / "__init__.py").read_text(), re.M)
    if not match:
        raise BuildError(f"{PACKAGE_DIR / '__init__.py'}: no __version__ line")
    return match.group(1)


def manifest_text(path: Path = REPO_DIR / "blender_manifest.toml") -> str:
    """The repository's manifest with ``version`` stamped in after ``id`` (the repository copy has none)."""
    text = path.read_text()
    if re.search(r"^version\s*=", text, re.M):
        raise BuildError(f"{path}: remove the version line; it is stamped from motionclip_blender.__version__")
    return re.sub(r'^(id = .*)$', lambda m: f'{m.group(1)}\nversion = "{package_version()}"', text, count=1, flags=re.M)


def read_manifest(path: Path = REPO_DIR / "blender_manifest.toml") -> dict:
    return tomllib.loads(manifest_text(path))


def stage(staging: Path, assets: Path | None = None) -> Path:
    """Lay out the extension source: package contents + manifest + LICENSE + assets/ at the root."""
    assets = Path(assets) if assets is not None else REPO_DIR / "assets"
    if not (assets / "model").is_dir():
        raise BuildError(f"{assets / 'model'}: the bundled model is missing; train or download it first")
    shutil.copytree(PACKAGE_DIR, staging, ignore=_IGNORE)
    (staging / "blender_manifest.toml").write_text(manifest_text())
    if (REPO_DIR / "LICENSE").is_file():
        shutil.copy2(REPO_DIR / "LICENSE", staging / "LICENSE")
    shutil.copytree(assets, staging / "assets", ignore=_IGNORE)
    return staging


def _run(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, str(blender_ext_script()), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"blender_ext {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def build(output_dir: str | Path, assets: str | Path | None = None) -> Path:
    """Validate and build; returns the zip path (``<id>-<version>.zip`` in ``output_dir``)."""
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest()
    out = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with tempfile.TemporaryDirectory(prefix="motionclip_ext_") as tmp:
        src = stage(Path(tmp) / manifest["id"], assets)
        _run(["validate", str(src)])
        _run(["build", "--source-dir", str(src), "--output-filepath", str(out)])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="dist", help="where the zip goes (default: dist)")
    parser.add_argument("--assets", default=None, help="assets directory to bundle (default: <repo>/assets)")
    args = parser.parse_args(argv)
    try:
        path = build(args.output_dir, args.assets)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
