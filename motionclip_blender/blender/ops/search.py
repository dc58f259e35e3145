"""Text search over the actions of the open .blend (issue 16): "find the jumps" ranks every action that fits the
active armature (any mapped rig) by the cosine between its latent and the text; the panel lists the hits and a
click assigns one (the panel is ``ui/search.py``).

Latents are cached for the session by model and by the action's *content* (a digest of its keyframes and the
rig's bone names), so a second search reads no pose and encodes nothing: only actions edited since are read again.
"""

from __future__ import annotations

import hashlib

import bpy
import numpy as np
from bpy.props import IntProperty, StringProperty

from .. import readback, rig
from .latent_base import _BadInput, _LatentOperator

_LATENTS: dict[tuple[str, str], np.ndarray] = {}  # (model fingerprint, action content digest) -> unit latent
# (action session uid, the rig's bones) -> (cheap signature, digest): hashing every keyframe of 100 actions takes
# ~150 ms, past the 100 ms a repeated search may take, so a digest is kept until Blender reports the action edited
# (depsgraph update), its frame range or fcurve count changes, or a file is loaded. An action edited by a script
# while no object uses it is not reported: its old latent serves until then.
_DIGESTS: dict[tuple[int, str], tuple[tuple, str | None]] = {}


def action_digest(arm, action, bone_names: set[str] | None = None) -> str | None:
    """What the action does on this rig: every keyframe of every fcurve of its slot, and the rig's bones (the same
    keys on another rig are another motion); None when the action does not fit the rig (``readback``'s rule:
    it keys bones, all of them the rig's). One pass over the fcurves with ``foreach_get``, no pose evaluated:
    the whole cost of a search served from the cache (~1 ms an action)."""
    bone_names = set(arm.data.bones.keys()) if bone_names is None else bone_names
    h = hashlib.sha256("\n".join(sorted(bone_names)).encode("utf-8"))
    keyed = False
    for fc in sorted(readback.fcurves_of(action, readback.slot_for(arm, action)),
                     key=lambda f: (f.data_path, f.array_index)):
        bone = readback.bone_of(fc.data_path)
        if bone is not None:
            if bone not in bone_names:
                return None
            keyed = True
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        h.update(f"{fc.data_path}[{fc.array_index}]".encode("utf-8"))
        h.update(co.tobytes())
    if not keyed:
        return None
    h.update(str(readback.action_rate(action, bpy.context.scene)).encode())
    return h.hexdigest()[:32]


def cached_digest(arm, action, bone_names: set[str], bones_key: str) -> str | None:
    signature = (action.name, tuple(action.frame_range), len(readback.fcurves_of(action)))
    key = (action.session_uid, bones_key)
    hit = _DIGESTS.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    digest = action_digest(arm, action, bone_names)
    _DIGESTS[key] = (signature, digest)
    return digest


@bpy.app.handlers.persistent
def _forget_edited(scene, depsgraph):
    edited = {u.id.original.session_uid for u in depsgraph.updates if isinstance(u.id, bpy.types.Action)}
    if edited:
        for key in [k for k in _DIGESTS if k[0] in edited]:
            del _DIGESTS[key]


@bpy.app.handlers.persistent
def _forget_all(*_args):
    _DIGESTS.clear()


class MOTIONCLIP_OT_search_actions(_LatentOperator, bpy.types.Operator):
    """Rank every action that fits the active armature by how well it matches the text; the hits are listed in
    the Search panel (``scene.motionclip_search.hits``)"""

    bl_idname = "motionclip.search_actions"
    bl_label = "Search Actions"
    bl_options = {'REGISTER'}  # reads and lists: nothing to undo

    query: StringProperty(name="Find", description="What the action should show")
    top_k: IntProperty(name="Hits", default=10, min=1, max=100)

    def _inputs(self, context, arm):
        if not self.query.strip():
            raise _BadInput("Search: enter what the action should show (the text is empty)")
        bones = set(arm.data.bones.keys())
        bones_key = hashlib.sha256("\n".join(sorted(bones)).encode("utf-8")).hexdigest()[:16]
        digests = {a.name: cached_digest(arm, a, bones, bones_key) for a in bpy.data.actions}
        fitting = {name: digest for name, digest in digests.items() if digest is not None}
        if not fitting:
            raise _BadInput(f"Search: no action in this file animates '{arm.name}'")
        return {"query": self.query.strip(), "actions": fitting, "read": {}, "arm_name": arm.name}

    def _prepare(self, context):
        plan = super()._prepare(context)
        if plan is None:
            return None
        from .. import runtime

        model = runtime.cached_model(plan["settings"])
        fingerprint = model.fingerprint if model is not None else None
        arm = bpy.data.objects[plan["arm_name"]]
        for name, digest in plan["actions"].items():  # poses are read on the main thread, only when not cached
            if fingerprint is None or (fingerprint, digest) not in _LATENTS:
                try:
                    plan["read"][name] = readback.motion_from_action(arm, bpy.data.actions[name])
                except (readback.ReadbackError, readback.UnmappedRigError) as exc:
                    self.report({'WARNING'}, f"skipped '{name}': {exc}")
        return plan

    def _job_text(self, plan):
        return f"searching {len(plan['actions'])} actions for '{plan['query'][:30]}'"

    def _compute(self, plan, job):
        import torch

        from .. import runtime

        model = runtime.get_model(plan["settings"])
        fingerprint = model.fingerprint
        names = [n for n in plan["actions"] if (fingerprint, plan["actions"][n]) in _LATENTS or n in plan["read"]]
        for i, name in enumerate(n for n in names if (fingerprint, plan["actions"][n]) not in _LATENTS):
            job.step(0.05 + 0.85 * i / max(1, len(names)), f"encoding '{name[:30]}'")
            _LATENTS[(fingerprint, plan["actions"][name])] = model.encode(plan["read"][name]).numpy()
        latents = torch.from_numpy(np.stack([_LATENTS[(fingerprint, plan["actions"][n])] for n in names]))
        scores = latents @ model.text_latent([plan["query"]])[0]
        order = torch.argsort(scores, descending=True)[:self.top_k]
        return [(names[i], float(scores[i])) for i in order]

    def _apply(self, context, plan, result):
        store = context.scene.motionclip_search
        store.hits.clear()
        for name, score in result:
            hit = store.hits.add()
            hit.name, hit.score = name, score
        store.hits_index = 0
        shown = ", ".join(f"{n} {s:.2f}" for n, s in result[:5])
        self.report({'INFO'}, f"'{plan['query']}' over {len(plan['actions'])} actions: {shown}")
        return {'FINISHED'}


class MOTIONCLIP_OT_assign_action(bpy.types.Operator):
    """Make this action the active armature's action"""

    bl_idname = "motionclip.assign_action"
    bl_label = "Assign Action"
    bl_options = {'REGISTER', 'UNDO'}

    action: StringProperty(name="Action")

    def execute(self, context):
        from ..bake import assign_action, keep_current_action

        arm, action = context.active_object, bpy.data.actions.get(self.action)
        if arm is None or arm.type != 'ARMATURE':
            self.report({'ERROR'}, "Select the armature to assign the action to")
            return {'CANCELLED'}
        problem = rig.animation_problem(arm)
        if problem:
            self.report({'ERROR'}, problem)
            return {'CANCELLED'}
        if action is None:
            self.report({'ERROR'}, f"There is no action named '{self.action}' any more")
            return {'CANCELLED'}
        reason = readback.check_action_fits(arm, action)
        if reason:
            self.report({'ERROR'}, reason)
            return {'CANCELLED'}
        keep_current_action(arm)
        assign_action(arm, action, readback.slot_for(arm, action))
        self.report({'INFO'}, f"'{arm.name}' now plays '{action.name}'")
        return {'FINISHED'}


CLASSES = (MOTIONCLIP_OT_search_actions, MOTIONCLIP_OT_assign_action)


def register_handlers():
    """Blender reports edited actions (depsgraph) and loaded files: their cached digests are dropped."""
    bpy.app.handlers.depsgraph_update_post.append(_forget_edited)
    bpy.app.handlers.load_post.append(_forget_all)


def unregister_handlers():
    for handlers, fn in ((bpy.app.handlers.depsgraph_update_post, _forget_edited),
                         (bpy.app.handlers.load_post, _forget_all)):
        if fn in handlers:
            handlers.remove(fn)
