"""What every latent operator shares (``ops/latent.py``): reading its clip sources, writing its
clips as actions with the one rollback, keeping quaternion keys continuous across clips, and the base operator
class that validates inputs on the main thread and runs the model through ``jobs.ModelJobOperator``."""

from __future__ import annotations

import bpy

from ...core.errors import InputError
from .. import deps, jobs, prefs, readback, retarget, rig


class _BadInput(Exception):
    """Raised inside ``_prepare`` helpers; reported as an error before anything is modified."""


# --- inputs ---------------------------------------------------------------------------------------------
def target_armature(context):
    """The active armature, if the latent tools can read actions on it and bake Motions onto it."""
    obj = context.active_object
    if obj is None:
        raise _BadInput("No active object: select an armature (or use Add SMPL Rig)")
    if obj.type != 'ARMATURE':
        raise _BadInput(f"'{obj.name}' is not an armature (it is a {obj.type.lower()})")
    problem = rig.animation_problem(obj) or readback.rig_problem(obj)
    if problem:
        raise _BadInput(problem)
    return obj


def read_action(arm, action, what: str):
    try:  # refuses actions made for another rig (ReadbackError) and rigs without a bone map
        return readback.motion_from_action(arm, action)
    except (readback.UnmappedRigError, readback.ReadbackError) as exc:
        raise _BadInput(f"{what}: {exc}") from None


def resolve_source(arm, prompt: str, action_name: str, what: str, use_active: bool = False):
    """(source, label, action name or ""): an action read into a Motion, or a prompt."""
    if action_name.strip():
        action = bpy.data.actions.get(action_name.strip())
        if action is None:
            raise _BadInput(f"{what}: there is no action named '{action_name.strip()}'")
        return read_action(arm, action, what), _clip_label(action), action.name
    if prompt.strip():
        return prompt.strip(), prompt.strip(), ""
    if use_active:
        action = arm.animation_data.action if arm.animation_data else None
        if action is None:
            raise _BadInput(f"{what}: enter a prompt, or give '{arm.name}' an action (it has no active action)")
        return read_action(arm, action, what), _clip_label(action), action.name
    raise _BadInput(f"{what}: enter a prompt or choose an action (both are empty)")


def _clip_label(action) -> str:
    return str(action.get("prompt", "")) or action.name.removeprefix("MC_").replace("_", " ")


# --- outputs --------------------------------------------------------------------------------------------
def write_clip(context, arm, motion, label: str, info: dict, start_frame: int | None = None,
               keep_root: bool = False):
    """Bake ``motion`` as a new action on ``arm`` (assigned, fake user); returns (action, slot).

    Non-SMPL rigs bake through the retarget module with the Retarget panel's map and root mode; ``keep_root``
    turns its "start from the current position" mode into full root motion (sequenced clips are already
    placed relative to each other)."""
    from ..bake import action_name
    from ..rigs import rig_for

    root_mode = None
    if keep_root and retarget.scene_options(context)[2] == 'KEEP_START':
        root_mode = 'FULL'
    props = {k: v for k, v in info.items() if v is not None}
    action, _ = rig_for(context, arm).bake(motion, action_name(label), start_frame=start_frame, props=props,
                                           root_mode=root_mode)
    action.use_fake_user = True
    return action, arm.animation_data.action_slot


def quaternion_curves(action, slot) -> dict[str, list]:
    """data path -> its 4 rotation_quaternion fcurves (w, x, y, z), for paths keyed completely."""
    groups: dict[str, list] = {}
    for fc in readback.fcurves_of(action, slot):
        if fc.data_path.endswith("rotation_quaternion") and 0 <= fc.array_index < 4:
            groups.setdefault(fc.data_path, [None] * 4)[fc.array_index] = fc
    return {p: g for p, g in groups.items() if all(g)}


def match_quaternion_signs(prev, prev_slot, nxt, nxt_slot, frame: float) -> int:
    """Flip whole quaternion channels of ``nxt`` whose value at ``frame`` points away from ``prev``'s there.

    NLA blends channels linearly: q and −q are the same rotation but their blend passes through ~0 and
    flips the bone; the flip makes every crossfade take the short path. Returns the number flipped."""
    import numpy as np

    ref, flipped = quaternion_curves(prev, prev_slot), 0
    for path, curves in quaternion_curves(nxt, nxt_slot).items():
        if path not in ref:
            continue
        dot = sum(a.evaluate(frame) * b.evaluate(frame) for a, b in zip(ref[path], curves))
        if dot >= 0:
            continue
        flipped += 1
        for fc in curves:
            co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
            fc.keyframe_points.foreach_get("co", co)
            co[1::2] *= -1
            fc.keyframe_points.foreach_set("co", co)
            fc.update()
    return flipped


# --- base class -----------------------------------------------------------------------------------------
class _LatentOperator(jobs.ModelJobOperator):
    bl_options = {'REGISTER', 'UNDO'}

    def _prepare(self, context):
        try:
            arm = target_armature(context)
            problem = deps.dependency_problem()
            if problem:
                raise _BadInput(problem)
            plan = self._inputs(context, arm)
        except _BadInput as exc:
            self.report({'ERROR'}, str(exc))
            return None
        plan["target"] = arm.name
        plan["settings"] = prefs.model_settings(context)
        return plan

    def _apply_reporting(self, context, plan, result):
        """As the base class, plus an INFO note when baking switched bones to quaternion rotation."""
        from ..bake import mode_note, rotation_modes

        arm = bpy.data.objects.get(plan["target"])
        modes = rotation_modes(arm) if arm is not None and arm.type == 'ARMATURE' else {}
        status = super()._apply_reporting(context, plan, result)
        note = mode_note(arm, modes) if modes and 'FINISHED' in status else ""
        if note:
            self.report({'INFO'}, note)
        return status

    def _armature(self, plan):
        """The target again on the main thread; the user may have deleted or renamed it meanwhile."""
        arm = bpy.data.objects.get(plan["target"])
        if arm is None or arm.type != 'ARMATURE' or arm.mode == 'EDIT':
            raise InputError(f"target armature '{plan['target']}' was removed or changed while the model ran")
        return arm

    def _inputs(self, context, arm) -> dict:
        raise NotImplementedError
