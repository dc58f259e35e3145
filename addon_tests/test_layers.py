"""The layers: no module of the core imports the Blender layer, bpy or mathutils (the import graph points from
blender/ to core/ only)."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "motionclip_blender" / "core"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def test_the_core_never_imports_the_blender_layer():
    wrong = {}
    for path in sorted(CORE.rglob("*.py")):
        bad = {name for name in _imports(path) if name.split(".")[0] in ("bpy", "mathutils", "bmesh")
               or name.startswith("..blender") or "motionclip_blender.blender" in name}
        if bad:
            wrong[path.name] = sorted(bad)
    assert not wrong, wrong
    assert len(list(CORE.rglob("*.py"))) > 20  # the scan saw the core
