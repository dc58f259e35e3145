"""Bone maps for retargeting: which armature bone carries which SMPL joint, presets and auto-detection.

Kept free of torch (and bpy) so the Blender panel and the Generate operator can check a rig while the
add-on runs without its heavy dependencies; the math lives in ``rig/retarget.py``.

A *preset* lists candidate bone names per SMPL joint (first present wins). Built-in presets are JSON files in
``assets/rig_presets/``; a preset may start from one of ``bone_names.JOINT_MAPS``' name tables (``"joint_map":
"mixamo"``) so the names written for mocap import are not duplicated. User presets are the same JSON with one
bone name per joint, saved by the panel. Names match exactly first, then through ``bone_names.normalize``
(case, ``mixamorig:`` namespace and separators ignored), so "mixamorig:LeftArm" and "LeftArm" both match.
A *bone map* is the result on one rig: ``{smpl_joint: bone name as spelled in the rig}``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import MotionCLIPError
from .bone_names import JOINT_MAPS, REQUIRED_JOINTS, best_map, missing_required, resolve
from ..paths import PACKAGE_DIR, assets_dir
from ..motion.skeleton import JOINT_INDEX, JOINT_NAMES

PRESET_FORMAT = "motionclip-rig-preset-1"
# Required joints weigh double in the confidence: without them there is no usable body.
_REQUIRED_WEIGHT = 2.0


class PresetError(MotionCLIPError, ValueError):
    """A preset that cannot be read or written: names the file or preset and what is wrong."""


@dataclass
class Preset:
    name: str  # identifier, also the file stem ("mixamo", "my_robot")
    label: str
    candidates: dict[str, tuple[str, ...]]  # smpl joint -> bone names to try, in order
    builtin: bool = True
    path: str = ""

    def resolve(self, bone_names: Iterable[str]) -> dict[str, str]:
        return resolve(bone_names, self.candidates)


@dataclass
class Detection:
    """Outcome of matching every preset against one rig's bone names."""

    preset: str  # best preset name ("" when nothing matched at all)
    bone_map: dict[str, str]
    confidence: float  # 0..1, required joints weighted double
    missing_required: list[str]
    missing_optional: list[str]
    scores: list[tuple[str, float, int]] = field(default_factory=list)  # (preset, confidence, joints), best first

    @property
    def ok(self) -> bool:
        return not self.missing_required

    def report(self) -> str:
        """One line for operator reports and the panel."""
        if not self.preset:
            return "no preset matches any bone of this rig"
        text = (f"{self.preset}: {len(self.bone_map)}/{len(JOINT_NAMES)} joints, "
                f"confidence {self.confidence:.0%}")
        if self.missing_required:
            text += f"; missing required: {', '.join(self.missing_required)}"
        if len(self.scores) > 1:
            name, conf, _ = self.scores[1]
            text += f" (next best: {name} {conf:.0%})"
        return text


def _candidates_from_json(data: Mapping, source: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    table = data.get("joint_map")
    if table is not None:
        if table not in JOINT_MAPS:
            raise PresetError(f"{source}: unknown joint_map {table!r} (known: {', '.join(JOINT_MAPS)})")
        out.update(JOINT_MAPS[table])
    bones = data.get("bones", {})
    if not isinstance(bones, Mapping):
        raise PresetError(f"{source}: 'bones' must be an object {{smpl_joint: bone name or list}}")
    for joint, names in bones.items():
        if joint not in JOINT_INDEX:
            raise PresetError(f"{source}: {joint!r} is not an SMPL joint")
        if names is None or names == "" or names == []:
            out.pop(joint, None)
            continue
        names = (names,) if isinstance(names, str) else tuple(names)
        if not all(isinstance(n, str) and n for n in names):
            raise PresetError(f"{source}: bone names for {joint} must be non-empty strings")
        # preset-specific names go first; a table's names for the same joint stay as fallbacks
        out[joint] = names + tuple(n for n in out.get(joint, ()) if n not in names)
    if not out:
        raise PresetError(f"{source}: the preset maps no joint")
    return {j: out[j] for j in JOINT_NAMES if j in out}


def load_preset(path: str | os.PathLike, builtin: bool = False) -> Preset:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"{path}: cannot read rig preset ({exc})") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path}: a rig preset is a JSON object")
    cands = _candidates_from_json(data, str(path))
    return Preset(name=path.stem, label=str(data.get("label") or path.stem), candidates=cands, builtin=builtin,
                  path=str(path))


def builtin_preset_dir() -> Path:
    """``assets/rig_presets`` of the installed layout, else the repository's (the model override
    ``$MOTIONCLIP_ASSETS`` may point at a directory without presets)."""
    for base in (assets_dir(), PACKAGE_DIR / "assets", PACKAGE_DIR.parent / "assets"):
        if (base / "rig_presets").is_dir():
            return base / "rig_presets"
    return PACKAGE_DIR.parent / "assets" / "rig_presets"


def _load_dir(directory: str | os.PathLike | None, builtin: bool) -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    if directory is None or not Path(directory).is_dir():
        return out
    for path in sorted(Path(directory).glob("*.json")):
        if builtin:
            out[path.stem] = load_preset(path, builtin=True)  # a broken shipped preset is a bug: raise
        else:
            try:
                out[path.stem] = load_preset(path)
            except PresetError:
                continue  # one bad user file must not hide the others; the panel reports it on load
    return out


def available_presets(user_dir: str | os.PathLike | None = None) -> dict[str, Preset]:
    """Built-in presets (in a fixed order: the SMPL rig first) then user presets; a user preset never
    replaces a built-in of the same name."""
    builtin = _load_dir(builtin_preset_dir(), builtin=True)
    order = ["smpl", "mixamo", "rigify", "ue_mannequin"]
    presets = {k: builtin[k] for k in order if k in builtin}
    presets.update({k: v for k, v in builtin.items() if k not in presets})
    for name, preset in _load_dir(user_dir, builtin=False).items():
        presets.setdefault(name, preset)
    return presets


def confidence(bone_map: Mapping[str, str]) -> float:
    total = _REQUIRED_WEIGHT * len(REQUIRED_JOINTS) + (len(JOINT_NAMES) - len(REQUIRED_JOINTS))
    got = sum(_REQUIRED_WEIGHT if j in REQUIRED_JOINTS else 1.0 for j in bone_map)
    return got / total


def detect(bone_names: Iterable[str], presets: Mapping[str, Preset] | None = None) -> Detection:
    """The preset covering this rig best (required joints first, then all joints; ties go to the earlier
    preset), with every preset's score for the report."""
    presets = available_presets() if presets is None else presets
    rows = best_map(bone_names, {name: preset.candidates for name, preset in presets.items()})
    scores = [(p, confidence(m), len(m)) for p, m in rows]
    if not rows or not rows[0][1]:
        return Detection("", {}, 0.0, list(REQUIRED_JOINTS), [j for j in JOINT_NAMES if j not in REQUIRED_JOINTS],
                         scores)
    best, bmap = rows[0]
    return Detection(best, bmap, confidence(bmap), missing_required(bmap),
                     [j for j in JOINT_NAMES if j not in bmap and j not in REQUIRED_JOINTS], scores)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def preset_file_name(name: str) -> str:
    stem = _SAFE_NAME.sub("_", name.strip()).strip("._")
    if not stem:
        raise PresetError(f"{name!r} is not a usable preset name (use letters, digits, '_', '-', '.')")
    return stem + ".json"


def save_preset(directory: str | os.PathLike, name: str, bone_map: Mapping[str, str], label: str | None = None
                ) -> Path:
    """Write a user preset (one bone per joint) atomically; returns its path. Overwrites a preset of the
    same name in ``directory``; built-in names are refused so a user file never shadows a shipped one."""
    fname = preset_file_name(name)
    if fname[:-5] in available_presets(None):
        raise PresetError(f"'{fname[:-5]}' is a built-in preset name: choose another name")
    if not bone_map:
        raise PresetError("the map is empty: pick at least one bone")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / fname
    data = {"format": PRESET_FORMAT, "label": label or name.strip(),
            "bones": {j: bone_map[j] for j in JOINT_NAMES if bone_map.get(j)}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
