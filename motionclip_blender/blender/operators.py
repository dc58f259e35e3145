"""Operators: Add SMPL Rig, Generate.

Generate has two modes with identical results:
- EXEC (scripts, ``bpy.ops.motionclip.generate(...)``, background mode): runs the model and bakes
  before returning, so pipelines and tests can use the action immediately.
- INVOKE from the UI: the model runs in a worker thread (torch releases the GIL), a window-manager
  timer polls it, Esc cancels; the bake happens on the main thread because bpy data is not thread-safe.
Every input is validated before anything is created, so a failure leaves the file unchanged; the
operator is one undo step (REGISTER, UNDO).
"""

from __future__ import annotations

import threading
import time

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import deps, prefs, rig, runtime


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


def check_target(context) -> tuple[object, str]:
    """(armature, "") or (None, reason) for the active object. Retargeting to non-SMPL rigs will plug in
    here: today only armatures with every SMPL bone name are accepted."""
    obj = context.active_object
    ok, reason = rig.is_smpl_armature(obj)
    if not ok:
        return None, reason
    if obj.mode == 'EDIT':
        return None, f"Armature '{obj.name}' is in Edit Mode: switch to Object or Pose Mode to generate"
    return obj, ""


class _Job:
    """One generation running in a worker thread."""

    running: "_Job | None" = None  # at most one at a time: a second model run would only compete for CPU

    def __init__(self, settings, prompt, seconds, seed):
        self.result = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, args=(settings, prompt, seconds, seed), daemon=True)

    def _run(self, *args):
        try:
            self.result = runtime.generate_motion(*args)
        except BaseException as exc:  # reported on the main thread
            self.error = exc


class MOTIONCLIP_OT_generate(bpy.types.Operator):
    """Generate a motion from a text prompt and bake it as a new action on the active SMPL armature"""

    bl_idname = "motionclip.generate"
    bl_label = "Generate Motion"
    bl_options = {'REGISTER', 'UNDO'}

    prompt: StringProperty(name="Prompt", description="What the character does, e.g. 'a person jumps'", default="")
    seconds: FloatProperty(name="Length", description="Length of the motion in seconds", default=2.0,
                           min=0.1, soft_max=20.0, max=120.0, subtype='TIME_ABSOLUTE', unit='TIME_ABSOLUTE')
    seed: IntProperty(name="Seed",
                      description="Variation seed: 0 is the prompt's own motion, others give reproducible variations",
                      default=0, min=0)
    set_frame_range: BoolProperty(name="Set Frame Range", description="Fit the scene frame range to the motion",
                                  default=True)

    _timer = None
    _job: _Job | None = None
    _target = ""

    # --- shared -------------------------------------------------------------------------------
    def _validate(self, context):
        """Returns the target armature or None after reporting; nothing is modified here."""
        if not self.prompt.strip():
            self.report({'ERROR'}, "Enter a prompt describing the motion (it is empty)")
            return None
        arm, reason = check_target(context)
        if arm is None:
            self.report({'ERROR'}, reason)
            return None
        missing = deps.missing_modules()
        if missing:
            self.report({'ERROR'}, deps.missing_message(missing))
            return None
        return arm

    def _report_failure(self, exc: BaseException) -> None:
        if isinstance(exc, runtime.DependencyError):
            self.report({'ERROR'}, str(exc))
        elif isinstance(exc, runtime.model_load_error()):
            self.report({'ERROR'}, f"MotionCLIP model could not be loaded: {exc}")
        elif isinstance(exc, ValueError):
            self.report({'ERROR'}, f"Invalid input: {exc}")
        else:
            self.report({'ERROR'}, f"Generation failed: {type(exc).__name__}: {exc}")

    def _bake(self, context, arm, motion, info):
        from . import bake  # imports the core (torch): only once dependencies are known to be there

        action = bake.apply_motion(context, arm, motion, info, set_frame_range=self.set_frame_range)
        self.report({'INFO'}, f"Baked '{action.name}' ({action.frame_range[1] - action.frame_range[0] + 1:.0f} frames)")
        return {'FINISHED'}

    def _settings_and_seed(self, context):
        return prefs.model_settings(context), self.prompt.strip(), float(self.seconds), int(self.seed)

    # --- blocking -----------------------------------------------------------------------------
    def execute(self, context):
        arm = self._validate(context)
        if arm is None:
            return {'CANCELLED'}
        try:
            motion, info = runtime.generate_motion(*self._settings_and_seed(context))
        except Exception as exc:
            self._report_failure(exc)
            return {'CANCELLED'}
        return self._bake(context, arm, motion, info)

    # --- non-blocking -------------------------------------------------------------------------
    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if _Job.running is not None:
            self.report({'WARNING'}, "A generation is already running (Esc cancels it)")
            return {'CANCELLED'}
        arm = self._validate(context)
        if arm is None:
            return {'CANCELLED'}
        self._target = arm.name
        self._job = _Job.running = _Job(*self._settings_and_seed(context))
        self._job.thread.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        self._status(context)
        return {'RUNNING_MODAL'}

    def _status(self, context, clear: bool = False):
        elapsed = time.perf_counter() - self._job.started if self._job else 0.0
        msg = f"MotionCLIP: generating '{self.prompt.strip()[:40]}'… {elapsed:.1f} s  (Esc to cancel)"
        context.window_manager.motionclip_status = "" if clear else msg
        if context.workspace:
            context.workspace.status_text_set(None if clear else msg)
        if not clear:
            # No progress from inside the model: a bar that fills over a typical ~10 s run.
            context.window_manager.progress_update(min(99, int(elapsed * 10)))
        for area in context.screen.areas if context.screen else ():
            if area.type == 'VIEW_3D':
                area.tag_redraw()

    def _end(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        self._status(context, clear=True)
        _Job.running = None

    def modal(self, context, event):
        job = self._job
        if event.type == 'ESC' and event.value == 'PRESS':
            job.cancelled = True  # the thread cannot be killed: it finishes and its result is dropped
            self._end(context)
            self.report({'WARNING'}, "Generation cancelled")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}  # keep the UI fully interactive while the model runs
        if job.thread.is_alive():
            self._status(context)
            return {'RUNNING_MODAL'}
        self._end(context)
        if job.error is not None:
            self._report_failure(job.error)
            return {'CANCELLED'}
        # Bake on the armature chosen at invoke; the user may have renamed or deleted it meanwhile.
        arm = bpy.data.objects.get(self._target)
        ok, reason = rig.is_smpl_armature(arm)
        if not ok or arm.mode == 'EDIT':
            self.report({'ERROR'}, f"Target armature '{self._target}' changed while generating: "
                                   f"{reason or 'it is in Edit Mode'}")
            return {'CANCELLED'}
        return self._bake(context, arm, *job.result)


CLASSES = (MOTIONCLIP_OT_add_smpl_rig, MOTIONCLIP_OT_generate)
