"""The layers: the import graph points from blender/ to core/ only. No module of the core imports the Blender
layer, bpy, bmesh or mathutils, directly or through a relative import."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "motionclip_blender"
CORE = PACKAGE / "core"


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against its package)."""
    parts = ["motionclip_blender", *path.relative_to(PACKAGE).with_suffix("").parts]
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def _forbidden(name: str) -> bool:
    return name.split(".")[0] in ("bpy", "mathutils", "bmesh") or name.startswith("motionclip_blender.blender")


def test_the_core_never_imports_the_blender_layer():
    wrong = {str(p.relative_to(CORE)): sorted(filter(_forbidden, _imports(p))) for p in sorted(CORE.rglob("*.py"))}
    assert not {k: v for k, v in wrong.items() if v}
    assert len(wrong) > 30  # the scan saw the core, subpackages included


def test_the_resolver_sees_a_relative_import_of_the_blender_layer(tmp_path, monkeypatch):
    """The check above would pass vacuously if relative imports were not resolved: a planted one is caught."""
    planted = CORE / "motion" / "_planted_for_test.py"
    planted.write_text("from ...blender import bake\n")
    try:
        assert "motionclip_blender.blender.bake" in _imports(planted)
        assert _forbidden("motionclip_blender.blender.bake")
    finally:
        planted.unlink()


def test_the_blender_tests_fail_rather_than_skip_without_bpy(tmp_path):
    """`make test` must not pass with every Blender test skipped: on a Python without bpy (a copy of this
    site-packages minus bpy, ``-S`` so only the copy is seen) collecting them is an error naming bpy."""
    import site
    import subprocess
    import sys

    packages = Path(next(p for p in site.getsitepackages() if Path(p, "bpy").is_dir()))
    bare = tmp_path / "site"
    bare.mkdir()
    for entry in packages.iterdir():
        if not entry.name.startswith("bpy"):
            (bare / entry.name).symlink_to(entry)
    repo = PACKAGE.parent
    out = subprocess.run([sys.executable, "-S", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(repo / "addon_tests" / "blender" / "test_register.py")],
                         capture_output=True, text=True, cwd=repo, timeout=300,
                         env={"PYTHONPATH": f"{bare}:{repo}", "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0, out.stdout[-2000:]
    assert "the Blender tests need the bpy module" in out.stdout + out.stderr


def test_the_architecture_doc_names_every_module():
    """docs/architecture.md is drawn from the tree: every module of both layers appears in it by its path
    inside its layer (``model/api.py``, ``ops/generate.py``), so a new or moved module needs its line."""
    import re

    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w/]+\.py)`", doc))
    missing = []
    for layer in ("core", "blender"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            rel = path.relative_to(PACKAGE / layer).as_posix()
            if path.name != "__init__.py" and rel not in named:
                missing.append(f"{layer}/{rel}")
    assert not missing, f"not in docs/architecture.md: {missing}"
