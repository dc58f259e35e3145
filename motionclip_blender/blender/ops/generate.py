"""Operators: Add SMPL Rig, Generate.

Generate has two modes with identical results:
- EXEC (scripts, ``bpy.ops.motionclip.generate(...)``, background mode): runs the model and bakes
  before returning, so pipelines and tests can use the action immediately.
- INVOKE from the UI: the model runs in a worker thread (torch releases the GIL), a window-manager
  timer polls it, Esc cancels; the bake happens on the main thread because bpy data is not thread-safe.
  That machinery is shared with the latent operators in ``jobs.ModelJobOperator``.
Every input is validated before anything is created, so a failure leaves the file unchanged; the
operator is one undo step (REGISTER, UNDO).
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty

from .. import deps, jobs, prefs, rig, runtime
from ..props import GenerateOptions


class MOTIONCLIP_OT_add_smpl_rig(bpy.types.Operator):
    """Add an armature with the SMPL skeleton and a simple body at the 3D cursor"""

    bl_idname = "motionclip.add_smpl_rig"
    bl_label = "Add SMPL Rig"
    bl_options = {'REGISTER', 'UNDO'}

    with_body: BoolProperty(name="Body", description="Add a simple mesh body skinned to the bones", default=True)

    @classmethod
    def poll(cls, context):
        return context.mode == 'OBJECT'

    def execute(self, context):
        arm, _ = rig.add_smpl_rig(context, with_body=self.with_body, location=context.scene.cursor.location.copy())
        self.report({'INFO'}, f"Added SMPL rig '{arm.name}'")
        return {'FINISHED'}


def check_armature(obj) -> tuple[bool, str]:
    """An SMPL armature, or any armature the Retarget panel's bone map fits (Generate then retargets)."""
    ok, reason = rig.is_smpl_armature(obj)
    if not ok and obj is not None and obj.type == 'ARMATURE':
        from .. import retarget

        ok, reason = retarget.check_generate_target(obj, reason)
    return ok, reason


def check_target(context) -> tuple[object, str]:
    """(armature, "") or (None, reason) for the active object."""
    obj = context.active_object
    ok, reason = check_armature(obj)
    if not ok:
        return None, reason
    problem = rig.animation_problem(obj)
    return (None, problem) if problem else (obj, "")


class _Job(jobs.Job):
    """One generation in a worker thread (``jobs.Job`` bound to ``runtime.generate_motion``, looked up at run
    time so tests can spy on it)."""

    def __init__(self, *args):
        super().__init__(lambda *a: runtime.generate_motion(*a), *args)


class MOTIONCLIP_OT_generate(GenerateOptions, jobs.ModelJobOperator, bpy.types.Operator):
    """Generate a motion from a text prompt and bake it as a new action on the active SMPL armature"""

    bl_idname = "motionclip.generate"
    bl_label = "Generate Motion"
    bl_options = {'REGISTER', 'UNDO'}

    prompt: StringProperty(name="Prompt", description="What the character does, e.g. 'a person jumps'", default="")
    set_frame_range: BoolProperty(name="Set Frame Range", description="Fit the scene frame range to the motion",
                                  default=True)

    # --- jobs.ModelJobOperator: blocking from scripts, worker thread + timer from the UI ----------
    def _prepare(self, context):
        """(target name, generate_motion args) or None after reporting; nothing is modified here."""
        if not self.prompt.strip() and not self.use_keys:
            self.report({'ERROR'}, "Enter a prompt describing the motion (it is empty)")
            return None
        arm, reason = check_target(context)
        if arm is None:
            self.report({'ERROR'}, reason)
            return None
        problem = deps.dependency_problem()
        if problem:
            self.report({'ERROR'}, problem)
            return None
        from ..readback import UnmappedRigError
        from ..retarget import MapError
        from ..rigs import rig_for

        try:  # a rig that cannot be bound fails now, not after the model's work
            rig_for(context, arm).validate()
        except (MapError, UnmappedRigError) as exc:
            self.report({'ERROR'}, f"Cannot bake onto '{arm.name}': {exc}")
            return None
        keys, key_fps = None, None
        if self.use_keys:
            from .. import readback
            from ..bake import scene_fps

            if self.loop or self.sequence:
                self.report({'ERROR'}, "Use Keys and Loop cannot be combined: closing the loop would move the keyed "
                                       "poses" if self.loop else "Use Keys and Sequence cannot be combined: generate "
                                       "the sequence first, then key over it")
                return None
            key_fps = scene_fps(context.scene)
            try:
                keys = readback.key_poses(arm, context.scene.frame_start, int(round(self.seconds * key_fps)))
            except (readback.ReadbackError, readback.UnmappedRigError) as exc:
                self.report({'ERROR'}, str(exc))
                return None
            if not self.prompt.strip() and len(keys) < 2:
                self.report({'ERROR'}, "Use Keys without a prompt in-betweens keys: key at least two frames")
                return None
        if self.sequence:
            from ...core.errors import InputError
            from ...core.model.sequence import parse_sequence

            if self.loop:
                self.report({'ERROR'}, "Sequence and Loop cannot be combined: a sequence does not repeat")
                return None
            try:
                parse_sequence(self.prompt)
            except InputError as exc:
                self.report({'ERROR'}, f"Sequence: {exc}")
                return None
        settings = prefs.model_settings(context)
        return arm.name, (settings, self.prompt.strip(), float(self.seconds), int(self.seed), bool(self.clean_feet),
                          bool(self.loop), self.root, keys, key_fps, bool(self.key_root), bool(self.sequence))

    def _compute(self, plan, job):
        return runtime.generate_motion(*plan[1])

    def _make_job(self, plan):
        return _Job(*plan[1])

    def _job_text(self, plan):
        return f"generating '{self.prompt.strip()[:40]}'" if self.prompt.strip() else "in-betweening the keys"

    def _apply(self, context, plan, result):
        from .. import bake  # imports the core (torch): only once dependencies are known to be there

        # Bake on the armature chosen at invoke; the user may have renamed or deleted it meanwhile.
        arm = bpy.data.objects.get(plan[0])
        ok, reason = check_armature(arm)
        reason = reason if not ok else rig.animation_problem(arm)
        if reason:
            self.report({'ERROR'}, f"Target armature '{plan[0]}' changed while generating: {reason}")
            return {'CANCELLED'}
        motion, info = result
        modes = bake.rotation_modes(arm)
        from ..readback import UnmappedRigError
        from ..retarget import MapError
        from ..rigs import rig_for

        def markers(action):
            return sequence_markers(context, arm, action, info, self.sequence_strips)

        try:  # keys are read in the rig's own frame: the root goes back there unchanged (no Keep Start)
            action, notes = rig_for(context, arm).apply(motion, info, set_frame_range=self.set_frame_range,
                                                        root_mode='FULL' if info.get("keys") else None,
                                                        then=markers if info.get("segments") else None)
        except (MapError, UnmappedRigError) as exc:
            self.report({'ERROR'}, f"Retarget failed: {exc}")
            return {'CANCELLED'}
        notes = notes + [n for n in (bake.mode_note(arm, modes),) if n]
        if info.get("drawn_from"):
            notes.append(f"drawn from the training performance {info['drawn_from']}")
        self.report({'INFO'}, f"Baked '{action.name}' ({action.frame_range[1] - action.frame_range[0] + 1:.0f} frames)"
                              + "".join(f"; {n}" for n in notes))
        return {'FINISHED'}


def sequence_markers(context, arm, action, info: dict, strips: bool) -> str:
    """A sequence's parts as pose markers on its action (and, when asked, one NLA strip per part on a new track
    of ``arm``, each playing its range of the action); returns the note for the report."""
    import json

    from ..bake import scene_fps

    ratio = scene_fps(context.scene) / float(info["model_fps"])
    first, last = (int(round(f)) for f in action.frame_range)
    # resampled to the scene's fps, the last part can round past the action's last key: it ends there
    parts = [(text, first + int(round(a * ratio)), min(last, first + int(round(b * ratio)) - 1))
             for text, a, b in json.loads(info["segments"])]
    parts = [(text, start, end) for text, start, end in parts if start <= end]
    for text, start, _ in parts:
        action.pose_markers.new(text[:60]).frame = start
    if not strips:
        return f"{len(parts)} parts marked on the action"
    ad = arm.animation_data
    track = ad.nla_tracks.new()
    track.name = f"MC sequence: {info['prompt'][:40]}"
    for text, start, end in parts:
        strip = track.strips.new(text[:60], start, action)
        strip.action_frame_start, strip.action_frame_end = start, max(end, start + 1)
        strip.frame_end = strip.frame_start + (strip.action_frame_end - strip.action_frame_start)
    ad.action = None  # the strips play it now: an active action on top would replace them
    return f"{len(parts)} parts as NLA strips on '{track.name}'"


CLASSES = (MOTIONCLIP_OT_add_smpl_rig, MOTIONCLIP_OT_generate)
