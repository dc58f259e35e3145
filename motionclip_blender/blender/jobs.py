"""The worker-thread/timer pattern shared by every operator that runs the model (factored out of Generate).

An operator using :class:`ModelJobOperator` splits its work in three:
- ``_prepare(context) -> plan | None``: main thread; validates every input and reads what it needs from
  ``bpy`` into plain data (names, numbers, Motions). Reports and returns None on bad input, having changed
  nothing.
- ``_compute(plan, job) -> result``: the model work; touches no ``bpy`` data, so it can run in a worker
  thread (torch releases the GIL). Long loops call ``job.step(fraction, text)``, which updates the
  progress shown in the panel and raises :class:`JobCancelled` once the user pressed Esc.
- ``_apply(context, plan, result) -> {'FINISHED'} | {'CANCELLED'}``: main thread; writes the result into
  the file (bpy data is not thread-safe). Must re-check the targets named in the plan: from the UI the
  user may have renamed or deleted them while the model ran.

``execute`` (scripts, ``bpy.ops.motionclip.x(...)``, background mode) runs the three back to back and
returns only when the result is in the file; ``invoke`` from a window runs ``_compute`` in a worker thread
polled by a window-manager timer, keeping the UI interactive (Esc, or ``cancel`` when Blender drops the modal
handler on file load or window close, stops it). Either way the operator is one undo step.
"""

from __future__ import annotations

import threading
import time
import traceback

import bpy

from ..core.errors import MotionCLIPError
from . import runtime


def release_modal_timer(op, context) -> None:
    """Remove a modal operator's ``_timer`` and end its progress bar (shared by every modal MotionCLIP job)."""
    wm = context.window_manager
    if op._timer is not None:
        wm.event_timer_remove(op._timer)
        op._timer = None
    wm.progress_end()


class JobCancelled(Exception):
    """Raised inside ``_compute`` by ``job.step`` once the user cancelled."""


class Job:
    """One model run; ``Job.running`` guards against two at once (a second run would only compete for CPU)."""

    running: "Job | None" = None

    def __init__(self, fn, *args):
        self.result = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.progress: float | None = None  # 0..1 when the work reports steps, None for one opaque call
        self.text = ""
        self.started = time.perf_counter()
        self._fn = fn
        self.thread = threading.Thread(target=self._run, args=args, daemon=True)

    def _run(self, *args):
        try:
            self.result = self._fn(*args)
        except BaseException as exc:  # reported on the main thread
            self.error = exc

    def step(self, fraction: float, text: str = "") -> None:
        if self.cancelled:
            raise JobCancelled()
        self.progress, self.text = max(0.0, min(1.0, float(fraction))), text


class _InlineJob:
    """What ``_compute`` receives in the blocking path: same interface, never cancelled."""

    cancelled = False
    progress = None
    text = ""

    def step(self, fraction: float, text: str = "") -> None:
        pass


class ModelJobOperator:
    """Mixin for ``bpy.types.Operator`` subclasses; see the module docstring for the three methods."""

    _timer = None
    _job: Job | None = None
    _plan = None

    # --- to override --------------------------------------------------------------------------
    def _prepare(self, context):
        raise NotImplementedError

    def _compute(self, plan, job):
        raise NotImplementedError

    def _apply(self, context, plan, result):
        raise NotImplementedError

    def _job_text(self, plan) -> str:
        """Short description for the status bar, e.g. "generating 'a person jumps'"."""
        return "working"

    def _make_job(self, plan) -> Job:
        return Job(self._compute, plan)

    # --- shared -------------------------------------------------------------------------------
    def _report_failure(self, exc: BaseException) -> None:
        """One line for the user's problems (``errors.MotionCLIPError``: bad input, files, settings, missing
        dependencies); anything else is a bug: its traceback goes to the system console and the report says so."""
        if isinstance(exc, runtime.DependencyError):
            self.report({'ERROR'}, str(exc))
        elif isinstance(exc, runtime.model_load_error()):
            self.report({'ERROR'}, f"MotionCLIP model could not be loaded: {exc}")
        elif isinstance(exc, MotionCLIPError):
            self.report({'ERROR'}, f"{self.bl_label}: {exc}")
        else:
            traceback.print_exception(exc)
            self.report({'ERROR'}, f"{self.bl_label} failed with an internal error ({type(exc).__name__}: {exc}); "
                                   "the traceback is in the system console: please report it")

    def _apply_reporting(self, context, plan, result):
        try:
            return self._apply(context, plan, result)
        except Exception as exc:  # _apply cleans up its own half-made data before raising
            self._report_failure(exc)
            return {'CANCELLED'}

    # --- blocking -----------------------------------------------------------------------------
    def execute(self, context):
        plan = self._prepare(context)
        if plan is None:
            return {'CANCELLED'}
        try:
            result = self._compute(plan, _InlineJob())
        except Exception as exc:
            self._report_failure(exc)
            return {'CANCELLED'}
        return self._apply_reporting(context, plan, result)

    # --- non-blocking -------------------------------------------------------------------------
    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if Job.running is not None:
            self.report({'WARNING'}, "A MotionCLIP job is already running (Esc cancels it)")
            return {'CANCELLED'}
        plan = self._prepare(context)
        if plan is None:
            return {'CANCELLED'}
        self._plan = plan
        self._job = Job.running = self._make_job(plan)
        self._job.thread.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        self._status(context)
        return {'RUNNING_MODAL'}

    def _status(self, context, clear: bool = False):
        job = self._job
        elapsed = time.perf_counter() - job.started if job else 0.0
        step = f" {job.text}" if job and job.text else ""
        msg = f"MotionCLIP: {self._job_text(self._plan)}{step}… {elapsed:.1f} s  (Esc to cancel)"
        wm = context.window_manager
        wm.motionclip_status = "" if clear else msg
        if job is not None and job.progress is not None:
            percent = job.progress * 100
        else:
            percent = min(99.0, elapsed * 10)  # no progress from inside one model call: fills over ~10 s
        wm.motionclip_progress = 0.0 if clear else percent / 100
        if context.workspace:
            context.workspace.status_text_set(None if clear else msg)
        if not clear:
            wm.progress_update(int(percent))
        for area in context.screen.areas if context.screen else ():
            if area.type == 'VIEW_3D':
                area.tag_redraw()

    def _end(self, context):
        release_modal_timer(self, context)
        self._status(context, clear=True)
        if Job.running is self._job:
            Job.running = None

    def cancel(self, context):
        """Blender dropped the modal handler (a file was loaded, the window closed): stop the worker at its next
        step, drop its result and free the timer, progress, status and ``Job.running`` for the next job."""
        if self._job is not None:
            self._job.cancelled = True
        self._end(context)

    def modal(self, context, event):
        job = self._job
        if event.type == 'ESC' and event.value == 'PRESS':
            job.cancelled = True  # the thread cannot be killed: it stops at its next step, its result is dropped
            self._end(context)
            self.report({'WARNING'}, f"{self.bl_label} cancelled")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}  # keep the UI fully interactive while the model runs
        if job.thread.is_alive():
            self._status(context)
            return {'RUNNING_MODAL'}
        self._end(context)
        if job.error is not None:
            if not isinstance(job.error, JobCancelled):
                self._report_failure(job.error)
            return {'CANCELLED'}
        return self._apply_reporting(context, self._plan, job.result)
