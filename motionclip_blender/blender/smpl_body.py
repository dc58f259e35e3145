"""The user's SMPL / SMPL-X mesh as a Blender object skinned to the SMPL rig (the alternative to the mannequin).

Geometry, weights and the fit to the rig come from ``core.smpl_body`` (through ``smplx``); this module only
builds the mesh, one vertex group per rig bone carrying the model's own LBS weights, and the Armature
modifier — the same structure ``rig.create_body`` gives the mannequin, so everything downstream (bake, render)
treats both bodies alike.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.motion.skeleton import JOINT_NAMES
from ..core.rig.smpl_body import SmplBody, load_smpl_body

SMPL_MESH_NAME = "SMPL_Mesh"
_MIN_WEIGHT = 1e-4  # SMPL's weights have long tails of ~1e-6 entries; they only slow the modifier down


def create_smpl_body(context, rig, body: SmplBody | str, name: str = SMPL_MESH_NAME, color=(0.8, 0.55, 0.35, 1.0)):
    """Mesh object from ``body`` (or a model path) in the active collection, parented and skinned to ``rig``."""
    if not isinstance(body, SmplBody):
        body = load_smpl_body(body)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(body.vertices.tolist(), [], body.faces.tolist())
    mesh.validate()
    for poly in mesh.polygons:
        poly.use_smooth = True
    obj = bpy.data.objects.new(name, mesh)
    context.collection.objects.link(obj)
    obj["motionclip_smpl_source"] = body.source
    weights = body.weights
    for j, bname in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=bname)
        idx = np.nonzero(weights[:, j] > _MIN_WEIGHT)[0]
        # VertexGroup.add takes one weight per call: batch vertices that share a weight (rigid parts share 1.0).
        values, inverse = np.unique(np.round(weights[idx, j], 5), return_inverse=True)
        for k, value in enumerate(values):
            group.add(idx[inverse == k].tolist(), float(value), 'REPLACE')
    obj.parent = rig
    mod = obj.modifiers.new("Armature", 'ARMATURE')
    mod.object = rig
    mod.use_deform_preserve_volume = False  # plain LBS, as SMPL defines it
    obj.color = color
    return obj
