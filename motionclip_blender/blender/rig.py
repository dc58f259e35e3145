"""The SMPL rig: an armature matching the core skeleton and a simple rigid-skinned body.

The rest pose is exactly the core's (``skeleton.REST_OFFSETS``) with the pelvis at standing height, so
a Motion's identity rotations put every bone at rest and the bake only needs a change of basis per
bone (see ``bake.py``). Rolls are chosen for animators (bone Z axis points forward, or up for
bones that already point forward such as feet) — the bake does not depend on them.
"""

from __future__ import annotations

import bmesh
import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.motion.skeleton import (
    JOINT_NAMES,
    NUM_JOINTS,
    PARENTS,
    PRIMARY_CHILD,
    leaf_tip,
    rest_joint_positions,
    rest_pelvis_height,
)

RIG_NAME = "SMPL_Rig"
BODY_NAME = "SMPL_Body"

# Capsule radii (metres) at a bone's head and tail: a rough neutral body, enough to read a motion.
_RADII = {
    "pelvis": (0.11, 0.10), "spine1": (0.10, 0.10), "spine2": (0.10, 0.11), "spine3": (0.11, 0.10),
    "neck": (0.05, 0.05), "head": (0.09, 0.09),
    "hip": (0.08, 0.055), "knee": (0.055, 0.04), "ankle": (0.035, 0.035), "foot": (0.035, 0.03),
    "collar": (0.05, 0.05), "shoulder": (0.045, 0.038), "elbow": (0.036, 0.03), "wrist": (0.03, 0.025),
    "hand": (0.025, 0.02),
}


def rest_heads() -> np.ndarray:
    """Armature-space rest positions (24, 3) of the joints, feet on z = 0."""
    pos = rest_joint_positions()
    pos[:, 2] += rest_pelvis_height()
    return pos


def rest_tails(heads: np.ndarray) -> np.ndarray:
    """Each bone's tail: at its primary child's joint, or a short tip for leaves."""
    tails = np.empty_like(heads)
    for j in range(NUM_JOINTS):
        child = PRIMARY_CHILD.get(j)
        tails[j] = heads[child] if child is not None else heads[j] + leaf_tip(j)
    return tails


def _radii(name: str) -> tuple[float, float]:
    key = name.split("_", 1)[1] if name.startswith(("left_", "right_")) else name
    return _RADII.get(key, (0.04, 0.03))


def is_smpl_armature(obj) -> tuple[bool, str]:
    """(ok, reason): an armature object carrying every SMPL bone name. The reason names what is wrong,
    for operator reports. Other rigs go through retarget.py (operators.check_armature)."""
    if obj is None:
        return False, "No active object: select an armature (or use Add SMPL Rig)"
    if obj.type != 'ARMATURE':
        return False, f"'{obj.name}' is not an armature (it is a {obj.type.lower()}): select an SMPL armature"
    missing = [n for n in JOINT_NAMES if n not in obj.data.bones]
    if missing:
        shown = ", ".join(missing[:4]) + (" …" if len(missing) > 4 else "")
        return False, (f"Armature '{obj.name}' is not an SMPL rig: missing {len(missing)} bones ({shown}); "
                       "use Add SMPL Rig, or map its bones in the Retarget panel")
    return True, ""


# How far (metres) an SMPL-named rig's bones may rest from Add SMPL Rig's and still take keys directly.
BUILTIN_REST_TOLERANCE = 0.005


def has_builtin_rest(obj) -> bool:
    """Whether an SMPL-named armature rests as Add SMPL Rig makes it (armature space in metres, Z up, the core's
    proportions). Only then can a Motion be keyed onto it directly (``bake.bake_motion``); an SMPL rig from
    elsewhere (an FBX in centimetres or Y up, scale or rotation applied, another body's proportions) goes
    through the retargeter, which measures the rig."""
    heads = np.array([tuple(obj.data.bones[name].head_local) for name in JOINT_NAMES])
    return float(np.abs(heads - rest_heads()).max()) <= BUILTIN_REST_TOLERANCE


def animation_problem(obj) -> str:
    """"" when the add-on may write and read actions on armature ``obj``; else why not, for a report. Checked
    before any work, so nothing is half-made: Edit Mode, a linked armature (its new action would not be saved
    with it) and NLA tweak mode (the active action is locked) all stop a bake."""
    if obj.mode == 'EDIT':
        return f"Armature '{obj.name}' is in Edit Mode: switch to Object or Pose Mode"
    if obj.library is not None or not obj.is_editable:
        return (f"Armature '{obj.name}' is linked from a library and cannot be animated here: make a Library "
                "Override of it (Object > Library Override) and use that")
    ad = obj.animation_data
    if ad is not None and ad.use_tweak_mode:
        return (f"Armature '{obj.name}' is in NLA tweak mode: leave it (Tab in the NLA editor) so a new action "
                "can be assigned")
    return ""


def create_armature(context, name: str = RIG_NAME, location=(0.0, 0.0, 0.0)):
    """Create and link the SMPL armature object in the active collection; returns it."""
    heads, data = rest_heads(), bpy.data.armatures.new(name)
    tails = rest_tails(heads)
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    context.collection.objects.link(obj)
    data.display_type = 'OCTAHEDRAL'
    obj.show_in_front = True

    # Edit bones need edit mode on this object; remember the user's selection/mode around it.
    prev_active = context.view_layer.objects.active
    if context.object is not None and context.object.mode != 'OBJECT':
        bpy.ops.object.mode_set(mode='OBJECT')
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    try:
        ebones = []
        for j, bname in enumerate(JOINT_NAMES):
            eb = data.edit_bones.new(bname)
            eb.head, eb.tail = Vector(heads[j]), Vector(tails[j])
            direction = Vector(tails[j] - heads[j]).normalized()
            # Z forward (-Y, the facing direction) reads naturally for flexion about X; bones already
            # along Y (feet, toes) take Z up instead.
            eb.align_roll(Vector((0, 0, 1)) if abs(direction.y) > 0.7 else Vector((0, -1, 0)))
            ebones.append(eb)
        for j, p in enumerate(PARENTS):
            if p >= 0:
                ebones[j].parent = ebones[p]
                # Connect only where the parent's tail is exactly this head (its primary child): connecting
                # elsewhere would move the head off the joint.
                ebones[j].use_connect = PRIMARY_CHILD.get(p) == j
    finally:
        bpy.ops.object.mode_set(mode='OBJECT')
    for pb in obj.pose.bones:
        pb.rotation_mode = 'QUATERNION'
    context.view_layer.objects.active = prev_active
    return obj


def _capsule(bm, deform, group: int, a: np.ndarray, b: np.ndarray, r1: float, r2: float, segments: int = 10):
    """A tapered, capped cylinder from a to b (armature space), all vertices weighted 1 to `group`."""
    axis = Vector(b - a)
    length = max(axis.length, 1e-4)
    rot = Vector((0, 0, 1)).rotation_difference(axis.normalized()).to_matrix().to_4x4()
    mat = Matrix.Translation(Vector((a + b) / 2)) @ rot
    geom = bmesh.ops.create_cone(bm, cap_ends=True, cap_tris=False, segments=segments,
                                 radius1=r1, radius2=r2, depth=length, matrix=mat)
    for v in geom["verts"]:
        v[deform][group] = 1.0


def _sphere(bm, deform, group: int, centre: np.ndarray, radius: float):
    geom = bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=radius,
                                     matrix=Matrix.Translation(Vector(centre)))
    for v in geom["verts"]:
        v[deform][group] = 1.0


def create_body(context, rig, name: str = BODY_NAME):
    """One mesh of capsules, one vertex group per bone (weight 1), deformed by an Armature modifier:
    rigid skinning, so the body follows the bones exactly and renders in any engine."""
    heads = rest_heads()
    tails = rest_tails(heads)
    mesh = bpy.data.meshes.new(name)
    obj = bpy.data.objects.new(name, mesh)
    context.collection.objects.link(obj)
    for bname in JOINT_NAMES:
        obj.vertex_groups.new(name=bname)
    bm = bmesh.new()
    deform = bm.verts.layers.deform.verify()
    idx = {n: i for i, n in enumerate(JOINT_NAMES)}
    for j, bname in enumerate(JOINT_NAMES):
        r1, r2 = _radii(bname)
        if bname == "head":
            _sphere(bm, deform, j, heads[j] + np.array([0.0, -0.02, 0.08]), 0.1)
        elif bname.endswith("_hand"):
            _sphere(bm, deform, j, (heads[j] + tails[j]) / 2, 0.045)
        else:
            _capsule(bm, deform, j, heads[j], tails[j], r1, r2)
        # Joints get a ball so bends do not open gaps between rigid segments.
        if bname not in ("pelvis", "head", "left_foot", "right_foot", "left_hand", "right_hand"):
            _sphere(bm, deform, j, heads[j], 0.95 * r1)
    # The pelvis bone points up the spine; a bar across the hips fills the gap to the thighs.
    _capsule(bm, deform, idx["pelvis"], heads[idx["left_hip"]], heads[idx["right_hip"]], 0.09, 0.09)
    bm.to_mesh(mesh)
    bm.free()
    for poly in mesh.polygons:
        poly.use_smooth = True
    obj.parent = rig
    mod = obj.modifiers.new("Armature", 'ARMATURE')
    mod.object = rig
    obj.color = (0.8, 0.55, 0.35, 1.0)
    return obj


def add_smpl_rig(context, with_body: bool = True, location=(0.0, 0.0, 0.0)):
    """Armature (+ body) in the active collection; the armature becomes the active, selected object."""
    rig = create_armature(context, location=location)
    body = create_body(context, rig) if with_body else None
    for o in context.view_layer.objects:
        o.select_set(False)
    rig.select_set(True)
    context.view_layer.objects.active = rig
    return rig, body
