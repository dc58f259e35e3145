"""Which source joint drives which SMPL joint, for the skeleton naming schemes mocap arrives in.

A source joint is matched to the SMPL joint whose *rotation* it carries: the joint sitting where the SMPL
joint sits and turning the same bone (CMU ASF names bones by the segment they move, BVH names joints by the
point they sit on; see the table in the shared SMPL notes). Names compare case-insensitively with namespace
prefixes ("mixamorig:", "Armature|") and separators ("_", ".", " ", "-") ignored. Each map lists candidates
per SMPL joint, first present wins; the map covering most SMPL joints on a file is chosen, and an explicit
``{smpl_joint: source_joint}`` dict merges over it.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from ..errors import MotionCLIPError
from ..motion.skeleton import JOINT_INDEX, JOINT_NAMES

# Without these the result is not a usable body: the legs, arms and head carry the motion's meaning, and
# the hips, shoulders and head also fix the source's up axis and facing.
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)

_SIDED = ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand")


def normalize(name: str) -> str:
    """Lower case, namespace prefix dropped ("mixamorig:Hips" -> "hips"), separators removed."""
    name = re.split(r"[:|]", name)[-1].lower()
    name = re.sub(r"^mixamorig\d*", "", name)
    return re.sub(r"[^a-z0-9]", "", name)


def _build(center: dict[str, tuple[str, ...]], sided: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Expand side templates: ``{side}`` -> left/right, ``{s}`` -> l/r (case is ignored when matching)."""
    out = {k: tuple(normalize(n) for n in v) for k, v in center.items()}
    for part, templates in sided.items():
        for side, s in (("left", "l"), ("right", "r")):
            out[f"{side}_{part}"] = tuple(normalize(t.format(side=side, s=s)) for t in templates)
    return {name: out[name] for name in JOINT_NAMES if name in out}


JOINT_MAPS: dict[str, dict[str, tuple[str, ...]]] = {
    # CMU's Acclaim skeleton (ASF bones) and BVH conversions that kept its names (root "hip" or "Hips")
    "cmu-asf": _build(
        {"pelvis": ("root", "hip", "hips"), "spine1": ("lowerback",), "spine2": ("upperback",),
         "spine3": ("thorax",), "neck": ("lowerneck",), "head": ("head",)},
        {"hip": ("{s}femur",), "knee": ("{s}tibia",), "ankle": ("{s}foot",), "foot": ("{s}toes",),
         "collar": ("{s}clavicle",), "shoulder": ("{s}humerus",), "elbow": ("{s}radius",),
         "wrist": ("{s}wrist",), "hand": ("{s}hand",)}),
    # cgspeed's MotionBuilder-friendly CMU conversion (LowerBack / Spine / Spine1, Neck / Neck1 / Head)
    "motionbuilder": _build(
        {"pelvis": ("Hips",), "spine1": ("LowerBack",), "spine2": ("Spine",), "spine3": ("Spine1",),
         "neck": ("Neck",), "head": ("Head",)},
        {"hip": ("{side}UpLeg",), "knee": ("{side}Leg",), "ankle": ("{side}Foot",), "foot": ("{side}ToeBase",),
         "collar": ("{side}Shoulder",), "shoulder": ("{side}Arm",), "elbow": ("{side}ForeArm",),
         "wrist": ("{side}Hand",), "hand": ("{side}FingerBase",)}),
    # Mixamo (usually with a "mixamorig:" prefix): Spine / Spine1 / Spine2, no LowerBack
    "mixamo": _build(
        {"pelvis": ("Hips",), "spine1": ("Spine",), "spine2": ("Spine1",), "spine3": ("Spine2",),
         "neck": ("Neck",), "head": ("Head",)},
        {"hip": ("{side}UpLeg",), "knee": ("{side}Leg",), "ankle": ("{side}Foot",), "foot": ("{side}ToeBase",),
         "collar": ("{side}Shoulder",), "shoulder": ("{side}Arm",), "elbow": ("{side}ForeArm",),
         "wrist": ("{side}Hand",), "hand": ("{side}HandMiddle1", "{side}HandIndex1")}),
    # cgspeed's 3ds Max-friendly conversion: LeftHip/LeftKnee/LeftAnkle, LeftShoulder is the upper arm
    "3dsmax": _build(
        {"pelvis": ("Hips",), "spine1": ("lowerback",), "spine2": ("Chest",), "spine3": ("Chest2",),
         "neck": ("lowerneck", "Neck"), "head": ("Head",)},
        {"hip": ("{side}Hip",), "knee": ("{side}Knee",), "ankle": ("{side}Ankle",), "foot": ("{side}Toe",),
         "collar": ("{side}Collar",), "shoulder": ("{side}Shoulder",), "elbow": ("{side}Elbow",),
         "wrist": ("{side}Wrist",), "hand": ("{s}hand", "{side}Fingers")}),
    # Daz (Bruce Hahne's CMU conversion, Genesis rigs): hip, abdomen, chest, lThigh, lShin, lShldr, ...
    "daz": _build(
        {"pelvis": ("hip",), "spine1": ("abdomen", "abdomenLower"), "spine2": ("abdomen2", "abdomenUpper"),
         "spine3": ("chest", "chestLower"), "neck": ("neck", "neckLower"), "head": ("head",)},
        {"hip": ("{s}Thigh", "{s}ThighBend"), "knee": ("{s}Shin",), "ankle": ("{s}Foot",),
         "foot": ("{s}Toe", "{s}Toes"), "collar": ("{s}Collar",), "shoulder": ("{s}Shldr", "{s}ShldrBend"),
         "elbow": ("{s}ForeArm", "{s}ForearmBend"), "wrist": ("{s}Hand",), "hand": ("{s}Mid1",)}),
    # Unity humanoid / VRM style: UpperLeg_L or LeftUpperLeg, Chest, UpperChest
    "unity": _build(
        {"pelvis": ("Hips",), "spine1": ("Spine",), "spine2": ("Chest",), "spine3": ("UpperChest",),
         "neck": ("Neck",), "head": ("Head",)},
        {"hip": ("UpperLeg_{s}", "{side}UpperLeg", "UpLeg_{s}", "Thigh_{s}"),
         "knee": ("LowerLeg_{s}", "{side}LowerLeg", "Leg_{s}", "Shin_{s}"),
         "ankle": ("Foot_{s}", "{side}Foot"), "foot": ("Toes_{s}", "{side}Toes", "ToeBase_{s}"),
         "collar": ("Shoulder_{s}", "{side}Shoulder", "Clavicle_{s}"),
         "shoulder": ("UpperArm_{s}", "{side}UpperArm"), "elbow": ("LowerArm_{s}", "{side}LowerArm", "ForeArm_{s}"),
         "wrist": ("Hand_{s}", "{side}Hand"),
         "hand": ("MiddleProximal_{s}", "{side}MiddleProximal", "Middle1_{s}", "{side}Middle1")}),
    # Reallusion iClone / Character Creator base rig (CC_Base_*); twist and share bones are left out
    "iclone-cc": _build(
        {"pelvis": ("CC_Base_Hip",), "spine1": ("CC_Base_Waist",), "spine2": ("CC_Base_Spine01",),
         "spine3": ("CC_Base_Spine02",), "neck": ("CC_Base_NeckTwist01",), "head": ("CC_Base_Head",)},
        {"hip": ("CC_Base_{s}_Thigh",), "knee": ("CC_Base_{s}_Calf",), "ankle": ("CC_Base_{s}_Foot",),
         "foot": ("CC_Base_{s}_ToeBase",), "collar": ("CC_Base_{s}_Clavicle",),
         "shoulder": ("CC_Base_{s}_Upperarm",), "elbow": ("CC_Base_{s}_Forearm",), "wrist": ("CC_Base_{s}_Hand",),
         "hand": ("CC_Base_{s}_Mid1",)}),
    # Autodesk HumanIK (Maya, MotionBuilder characters), often under a "Character1_" prefix; Mixamo's names
    # came from it, so plain names tie with (and go to) the mixamo map, which maps them the same way
    "humanik": _build(
        {"pelvis": ("Character1_Hips", "Hips"), "spine1": ("Character1_Spine", "Spine"),
         "spine2": ("Character1_Spine1", "Spine1"), "spine3": ("Character1_Spine3", "Character1_Spine2", "Spine3",
                                                               "Spine2"),
         "neck": ("Character1_Neck", "Neck"), "head": ("Character1_Head", "Head")},
        {part: (f"Character1_{{side}}{name}", f"{{side}}{name}") for part, name in (
            ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("collar", "Shoulder"),
            ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"), ("hand", "HandMiddle1"))}),
    # Rokoko Studio's "Newton" body (BVH and FBX exports): Thigh / Shin / Toe, four spine bones
    "rokoko": _build(
        {"pelvis": ("Hips",), "spine1": ("Spine1",), "spine2": ("Spine3", "Spine2"), "spine3": ("Spine4",),
         "neck": ("Neck",), "head": ("Head",)},
        {"hip": ("{side}Thigh",), "knee": ("{side}Shin",), "ankle": ("{side}Foot",), "foot": ("{side}Toe",),
         "collar": ("{side}Shoulder",), "shoulder": ("{side}Arm",), "elbow": ("{side}ForeArm",),
         "wrist": ("{side}Hand",), "hand": ("{side}MiddleProximal", "{side}HandMiddle1")}),
    # SMPL itself: this project's names, and the SMPL FBX ones (m_avg_L_Hip, Pelvis, Spine1, ...)
    "smpl": _build(
        {n: (n, f"m_avg_{n}", f"f_avg_{n}") for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")},
        {p: (f"{{side}}_{p}", f"{{s}}_{p}", f"m_avg_{{s}}_{p}", f"f_avg_{{s}}_{p}") for p in _SIDED}),
}


class BoneMapError(MotionCLIPError, ValueError):
    """A bone map that cannot be used: names the unknown joints, missing bones and bones used twice."""


def resolve(names: Iterable[str], candidates: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Apply one candidate table to a skeleton's names: {smpl_joint: name as spelled there}. Per joint the
    first candidate present wins, an exact name before a normalized one; a bone drives one joint only."""
    names = list(names)
    exact = set(names)
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(normalize(n), n)
    out: dict[str, str] = {}
    used: set[str] = set()
    for joint in JOINT_NAMES:
        for cand in candidates.get(joint, ()):
            hit = cand if cand in exact else by_norm.get(normalize(cand))
            if hit is not None and hit not in used:
                out[joint] = hit
                used.add(hit)
                break
    return out


def missing_required(bone_map: Mapping[str, str]) -> list[str]:
    return [j for j in REQUIRED_JOINTS if j not in bone_map]


def best_map(names: Iterable[str], tables: Mapping[str, Mapping[str, tuple[str, ...]]]
             ) -> list[tuple[str, dict[str, str]]]:
    """Every table resolved on ``names``, best first: most required joints, then most joints; ties keep the
    tables' order. Used for mocap files (``JOINT_MAPS``) and rigs (the presets) alike."""
    names = list(names)
    rows = [(name, resolve(names, table)) for name, table in tables.items()]
    order = {name: i for i, name in enumerate(tables)}
    return sorted(rows, key=lambda r: (-(len(REQUIRED_JOINTS) - len(missing_required(r[1]))), -len(r[1]),
                                       order[r[0]]))


def detect_joint_map(source_names: Iterable[str]) -> tuple[str, dict[str, str]]:
    """The mocap map (by name) that covers the most SMPL joints on these names (``best_map``)."""
    name, resolved = best_map(source_names, JOINT_MAPS)[0]
    return (name, resolved) if resolved else ("", {})


def check_bone_map(bone_map: Mapping[str, str | None], names: Iterable[str]) -> dict[str, str]:
    """A hand-written map ({smpl_joint: bone}) checked against a skeleton's names and cleaned for use: empty
    entries dropped, a name matching exactly or else case-insensitively (as spelled in the skeleton).
    Raises BoneMapError naming unknown joints, names not in the skeleton and names used twice."""
    names = list(names)
    exact, by_lower = set(names), {n.lower(): n for n in names}
    out: dict[str, str] = {}
    problems = []
    for joint, bone in bone_map.items():
        if joint not in JOINT_INDEX:
            problems.append(f"{joint!r} is not an SMPL joint (expected one of {', '.join(JOINT_NAMES)})")
        elif bone:
            found = bone if bone in exact else by_lower.get(bone.lower())
            if found is None:
                problems.append(f"bone {bone!r} (for {joint}) is not in the skeleton")
            elif found in out.values():
                problems.append(f"bone {found!r} is mapped to more than one joint")
            else:
                out[joint] = found
    if problems:
        raise BoneMapError("; ".join(problems))
    return {j: out[j] for j in JOINT_NAMES if j in out}


def build_joint_map(source_names: Iterable[str], override: Mapping[str, str | None] | None = None
                    ) -> tuple[str, dict[str, str]]:
    """Detected map merged with ``override`` ({smpl_joint: source_joint}; None unmaps a joint), the override
    checked by ``check_bone_map`` (raises BoneMapError)."""
    names = list(source_names)
    map_name, resolved = detect_joint_map(names)
    if override:
        unmapped = {j for j, b in override.items() if not b}
        resolved = {j: b for j, b in resolved.items() if j not in unmapped}
        given = check_bone_map(override, names)
        resolved.update(given)  # a file's joint may drive two SMPL joints here: the user asked for it
        map_name += "+override"
    return map_name, {n: resolved[n] for n in JOINT_NAMES if n in resolved}
