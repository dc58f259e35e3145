"""Humanoid test rigs that are *not* SMPL: other names, proportions, arm poses, rolls, extra bones, units and
object transforms. Plain numpy (shared by the bpy-free and the Blender retarget tests); a rig is a list of
BoneSpec in armature space plus the object matrix, buildable as a Blender armature or a core RigRest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motionclip_blender.core.motion.skeleton import (
    JOINT_INDEX,
    SMPL_TO_BLENDER,
    leaf_tip,
    rest_joint_positions,
    rest_pelvis_height,
)


@dataclass
class BoneSpec:
    name: str
    head: np.ndarray
    tail: np.ndarray
    parent: str | None
    z_axis: np.ndarray  # roll reference (Blender's align_roll)
    connected: bool = False


@dataclass
class TestRig:
    style: str
    bones: list[BoneSpec]
    object_matrix: np.ndarray
    heading: np.ndarray  # world rotation taking SMPL's facing to this character's (what retarget should apply)
    expected_preset: str

    def rest_matrices(self) -> np.ndarray:
        """bone.matrix_local as Blender computes it from head, tail and roll reference."""
        out = []
        for b in self.bones:
            y = (b.tail - b.head) / np.linalg.norm(b.tail - b.head)
            z = b.z_axis - (b.z_axis @ y) * y
            z /= np.linalg.norm(z)
            m = np.eye(4)
            m[:3, :3] = np.stack([np.cross(y, z), y, z], 1)
            m[:3, 3] = b.head
            out.append(m)
        return np.array(out)

    def rig_rest(self):
        from motionclip_blender.core.rig.retarget import RigRest

        return RigRest.build([b.name for b in self.bones], [b.parent for b in self.bones], self.rest_matrices(),
                             np.array([b.tail for b in self.bones]), self.object_matrix,
                             [b.connected for b in self.bones])


def _rz(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def joints(arms: str, scale: float) -> dict[str, np.ndarray]:
    """SMPL joint positions (standing, Blender convention) with the arms in a 'T' or 'A' (45° down) pose,
    or SMPL's own ('rest')."""
    pos = rest_joint_positions()
    pos[:, 2] += rest_pelvis_height()
    pos = {n: pos[i] * scale for n, i in JOINT_INDEX.items()}
    if arms != "rest":
        for side, sx in (("left", 1.0), ("right", -1.0)):
            d = np.array([sx, 0, 0]) if arms == "T" else np.array([sx * np.sqrt(0.5), 0, -np.sqrt(0.5)])
            chain = [f"{side}_{p}" for p in ("shoulder", "elbow", "wrist", "hand")]
            for a, b in zip(chain, chain[1:]):
                length = np.linalg.norm(rest_joint_positions()[JOINT_INDEX[b]] - rest_joint_positions()[JOINT_INDEX[a]])
                pos[b] = pos[a] + d * length * scale
    return pos


class _Builder:
    def __init__(self, seed: int):
        self.bones: list[BoneSpec] = []
        self.rng = np.random.default_rng(seed)

    def add(self, name, head, tail, parent=None, connected=False):
        # random rolls: nothing may depend on how a rig author rolled the bones
        self.bones.append(BoneSpec(name, np.asarray(head, float), np.asarray(tail, float), parent,
                                   self.rng.normal(size=3), connected))


def _tip(joint: str, pos) -> np.ndarray:
    return pos[joint] + leaf_tip(JOINT_INDEX[joint]) * 1.0


def mixamo(prefix: str = "mixamorig:") -> TestRig:
    """T-pose, 10 % taller than SMPL, object turned 180° (the character faces +Y), end bones."""
    p, b = joints("T", 1.1), _Builder(1)
    n = lambda s: prefix + s  # noqa: E731
    b.add(n("Hips"), p["pelvis"], p["spine1"])
    for smpl, name, par, child in (("spine1", "Spine", "Hips", "spine2"), ("spine2", "Spine1", "Spine", "spine3"),
                                   ("spine3", "Spine2", "Spine1", "neck"), ("neck", "Neck", "Spine2", "head")):
        b.add(n(name), p[smpl], p[child], n(par), connected=True)
    b.add(n("Head"), p["head"], p["head"] + [0, 0, 0.2], n("Neck"), connected=True)
    b.add(n("HeadTop_End"), p["head"] + [0, 0, 0.2], p["head"] + [0, 0, 0.3], n("Head"), connected=True)
    for side, S in (("left", "Left"), ("right", "Right")):
        b.add(n(f"{S}UpLeg"), p[f"{side}_hip"], p[f"{side}_knee"], n("Hips"))
        b.add(n(f"{S}Leg"), p[f"{side}_knee"], p[f"{side}_ankle"], n(f"{S}UpLeg"), True)
        b.add(n(f"{S}Foot"), p[f"{side}_ankle"], p[f"{side}_foot"], n(f"{S}Leg"), True)
        b.add(n(f"{S}ToeBase"), p[f"{side}_foot"], p[f"{side}_foot"] + [0, -0.07, 0], n(f"{S}Foot"), True)
        b.add(n(f"{S}Toe_End"), p[f"{side}_foot"] + [0, -0.07, 0], p[f"{side}_foot"] + [0, -0.1, 0], n(f"{S}ToeBase"), True)
        b.add(n(f"{S}Shoulder"), p[f"{side}_collar"], p[f"{side}_shoulder"], n("Spine2"))
        b.add(n(f"{S}Arm"), p[f"{side}_shoulder"], p[f"{side}_elbow"], n(f"{S}Shoulder"), True)
        b.add(n(f"{S}ForeArm"), p[f"{side}_elbow"], p[f"{side}_wrist"], n(f"{S}Arm"), True)
        b.add(n(f"{S}Hand"), p[f"{side}_wrist"], p[f"{side}_hand"], n(f"{S}ForeArm"), True)
        tip = p[f"{side}_hand"] + (p[f"{side}_hand"] - p[f"{side}_wrist"]) * 0.5
        b.add(n(f"{S}HandMiddle1"), p[f"{side}_hand"], tip, n(f"{S}Hand"), True)
        b.add(n(f"{S}HandMiddle2"), tip, tip + (tip - p[f"{side}_hand"]), n(f"{S}HandMiddle1"), True)
    obj = np.eye(4)
    obj[:3, :3] = _rz(180)
    obj[:3, 3] = [1.0, 2.0, 0.0]
    return TestRig("mixamo", b.bones, obj, _rz(180), "mixamo")


def rigify() -> TestRig:
    """A-pose, 5 % shorter, DEF- names, two neck bones, twist segments, pelvis side bones, no fingers chain
    beyond f_middle.01."""
    p, b = joints("A", 0.95), _Builder(2)
    mid = lambda a, c: (p[a] + p[c]) / 2  # noqa: E731
    b.add("DEF-spine", p["pelvis"], p["spine1"])
    b.add("DEF-spine.001", p["spine1"], p["spine2"], "DEF-spine", True)
    b.add("DEF-spine.002", p["spine2"], p["spine3"], "DEF-spine.001", True)
    b.add("DEF-spine.003", p["spine3"], p["neck"], "DEF-spine.002", True)
    b.add("DEF-spine.004", p["neck"], mid("neck", "head"), "DEF-spine.003", True)
    b.add("DEF-spine.005", mid("neck", "head"), p["head"], "DEF-spine.004", True)
    b.add("DEF-spine.006", p["head"], p["head"] + [0, 0.02, 0.18], "DEF-spine.005", True)
    for side, L in (("left", "L"), ("right", "R")):
        b.add(f"DEF-pelvis.{L}", p["pelvis"], p[f"{side}_hip"] + [0, -0.1, 0.1], "DEF-spine")
        for part, smpl, child, par in (("thigh", "hip", "knee", "DEF-spine"), ("shin", "knee", "ankle", None),
                                       ("upper_arm", "shoulder", "elbow", f"DEF-shoulder.{L}"),
                                       ("forearm", "elbow", "wrist", None)):
            if part == "upper_arm":
                b.add(f"DEF-shoulder.{L}", p[f"{side}_collar"], p[f"{side}_shoulder"], "DEF-spine.003")
            par = par or b.bones[-1].name
            m = mid(f"{side}_{smpl}", f"{side}_{child}")
            b.add(f"DEF-{part}.{L}", p[f"{side}_{smpl}"], m, par, par.startswith("DEF-") and par.endswith(".001"))
            b.add(f"DEF-{part}.{L}.001", m, p[f"{side}_{child}"], f"DEF-{part}.{L}", True)
            if part == "shin":
                b.add(f"DEF-foot.{L}", p[f"{side}_ankle"], p[f"{side}_foot"], f"DEF-shin.{L}.001", True)
                b.add(f"DEF-toe.{L}", p[f"{side}_foot"], p[f"{side}_foot"] + [0, -0.06, 0], f"DEF-foot.{L}", True)
            if part == "forearm":
                b.add(f"DEF-hand.{L}", p[f"{side}_wrist"], p[f"{side}_hand"], f"DEF-forearm.{L}.001", True)
                b.add(f"DEF-f_middle.01.{L}", p[f"{side}_hand"], _tip(f"{side}_hand", p), f"DEF-hand.{L}", True)
    return TestRig("rigify", b.bones, np.eye(4), np.eye(3), "rigify")


def ue_mannequin() -> TestRig:
    """Centimetres in a Y-up armature (SMPL's native axes), object rotated 90° about X and scaled 0.01 as an
    FBX import leaves it; a root bone at the origin, UE5's five spine bones, twist bones, T-pose."""
    p, b = joints("T", 1.0), _Builder(3)
    to_data = lambda v: 100.0 * (SMPL_TO_BLENDER.T @ np.asarray(v, float))  # noqa: E731
    q = {k: to_data(v) for k, v in p.items()}
    b.add("root", to_data([0, 0, 0]), to_data([0, -0.2, 0]))
    b.add("pelvis", q["pelvis"], q["pelvis"] + to_data([0, 0.1, 0]), "root")  # points backwards, as UE's does
    spine = [q["spine1"] + (q["spine3"] - q["spine1"]) * k / 4 for k in range(5)]
    b.add("spine_01", q["spine1"], q["spine2"], "pelvis")
    b.add("spine_02", q["spine2"], spine[2] + (q["spine3"] - spine[2]) * 0.2, "spine_01", True)
    b.add("spine_03", b.bones[-1].tail, spine[3], "spine_02", True)
    b.add("spine_04", spine[3], q["spine3"], "spine_03", True)
    b.add("spine_05", q["spine3"], q["neck"], "spine_04", True)
    b.add("neck_01", q["neck"], q["head"], "spine_05", True)
    b.add("head", q["head"], q["head"] + to_data([0, 0, 0.15]), "neck_01", True)
    for side, s in (("left", "l"), ("right", "r")):
        b.add(f"thigh_{s}", q[f"{side}_hip"], q[f"{side}_knee"], "pelvis")
        b.add(f"thigh_twist_01_{s}", (q[f"{side}_hip"] + q[f"{side}_knee"]) / 2, q[f"{side}_knee"], f"thigh_{s}")
        b.add(f"calf_{s}", q[f"{side}_knee"], q[f"{side}_ankle"], f"thigh_{s}", True)
        b.add(f"foot_{s}", q[f"{side}_ankle"], q[f"{side}_foot"], f"calf_{s}", True)
        b.add(f"ball_{s}", q[f"{side}_foot"], q[f"{side}_foot"] + to_data([0, -0.06, 0]), f"foot_{s}", True)
        b.add(f"clavicle_{s}", q[f"{side}_collar"], q[f"{side}_shoulder"], "spine_05")
        b.add(f"upperarm_{s}", q[f"{side}_shoulder"], q[f"{side}_elbow"], f"clavicle_{s}", True)
        b.add(f"upperarm_twist_01_{s}", (q[f"{side}_shoulder"] + q[f"{side}_elbow"]) / 2, q[f"{side}_elbow"],
              f"upperarm_{s}")
        b.add(f"lowerarm_{s}", q[f"{side}_elbow"], q[f"{side}_wrist"], f"upperarm_{s}", True)
        b.add(f"lowerarm_twist_01_{s}", (q[f"{side}_elbow"] + q[f"{side}_wrist"]) / 2, q[f"{side}_wrist"],
              f"lowerarm_{s}")
        b.add(f"hand_{s}", q[f"{side}_wrist"], q[f"{side}_hand"], f"lowerarm_{s}", True)
        b.add(f"middle_01_{s}", q[f"{side}_hand"], to_data(_tip(f"{side}_hand", p)), f"hand_{s}", True)
    obj = np.eye(4)
    obj[:3, :3] = SMPL_TO_BLENDER * 0.01  # data Y up -> world Z up, cm -> m
    return TestRig("ue", b.bones, obj, np.eye(3), "ue_mannequin")


def big_rig(n_bones: int = 65) -> TestRig:
    """A ``n_bones`` rig for the benchmark: the Mixamo rig (29 bones) plus three-bone finger chains (unmapped)."""
    rig = mixamo()
    rng = np.random.default_rng(4)
    hands = [b for b in rig.bones if b.name.endswith("Hand")]
    k = 0
    while len(rig.bones) < n_bones:
        hand = hands[k % 2]
        base, parent = hand.tail + rng.normal(size=3) * 0.01, hand.name
        for seg in range(min(3, n_bones - len(rig.bones))):
            tail = base + (hand.tail - hand.head) * 0.4 + rng.normal(size=3) * 0.005
            name = f"{hand.name}Finger{k}_{seg}"
            rig.bones.append(BoneSpec(name, base, tail, parent, rng.normal(size=3), seg > 0))
            base, parent = tail, name
        k += 1
    return rig


ALL_RIGS = {"mixamo": mixamo, "rigify": rigify, "ue": ue_mannequin}


def build_armature(test_rig: TestRig, name: str):
    """Create ``test_rig`` as a Blender armature object in the current scene (bpy imported here only, so the
    bpy-free tests can use the rest of this module)."""
    import bpy
    from mathutils import Matrix, Vector

    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    for spec in test_rig.bones:
        eb = data.edit_bones.new(spec.name)
        eb.head, eb.tail = Vector(spec.head), Vector(spec.tail)
        eb.align_roll(Vector(spec.z_axis))
    for spec in test_rig.bones:
        if spec.parent:
            data.edit_bones[spec.name].parent = data.edit_bones[spec.parent]
            data.edit_bones[spec.name].use_connect = spec.connected
    bpy.ops.object.mode_set(mode='OBJECT')
    obj.matrix_world = Matrix(test_rig.object_matrix.tolist())
    return obj


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between unit vectors, degrees (clipped dot: exact parallels give 0, not NaN)."""
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))
