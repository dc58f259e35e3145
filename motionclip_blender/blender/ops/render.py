"""Operators for the fine-tuning round trip: Render Dataset, and Use Checkpoint (switch the add-on's model).

Kept apart from ``render.py`` because registration must not import torch (``render.py`` pulls in the core):
the heavy module is imported inside ``execute``/``invoke`` only.

Render Dataset runs like Generate: blocking from scripts and in background mode; from the UI a window-manager
timer renders one frame per tick (rendering must happen on the main thread), with the progress bar and a
status line, and Esc stops it (as does Blender dropping the handler: file load, window close; see ``cancel``) —
the frames done so far stay on disk with a manifest marked incomplete.
"""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .. import deps, prefs, runtime
from ..props import RenderOptions
from ..jobs import release_modal_timer


def _sources(op, render):
    if op.source == 'FILES':
        from pathlib import Path

        folder = Path(bpy.path.abspath(op.input_directory))
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".npz", ".bvh")) if folder.is_dir() else []
        if not files:
            raise render.RenderError(f"no .npz or .bvh motion files in '{folder}'")
        return render.sources_from_files(files)
    return render.sources_from_actions()


class MOTIONCLIP_OT_render_dataset(RenderOptions, bpy.types.Operator):
    """Render K frames of each motion (SMPL actions in this file, or motion files) at 224x224 with a manifest,
    for fine-tuning with CLIP image alignment (motionclip finetune)"""

    bl_idname = "motionclip.render_dataset"
    bl_label = "Render Fine-tuning Dataset"
    bl_options = {'REGISTER'}

    _gen = None
    _job = None
    _timer = None

    def _make_job(self, context):
        problem = deps.dependency_problem()
        if problem:
            raise runtime.DependencyError(problem)
        from .. import bake, render

        p = prefs.get_prefs(context)
        smpl = bpy.path.abspath(p.smpl_model_path) if p is not None and p.smpl_model_path.strip() else None
        return render.RenderJob(_sources(self, render), bpy.path.abspath(self.directory), self.frames_per_motion,
                                self.size, self.engine, smpl, action_fps=bake.scene_fps(context.scene))

    def _finished(self, job):
        state = "" if job.complete else " (cancelled: manifest marked incomplete)"
        self.report({'INFO'} if job.complete else {'WARNING'},
                    f"Rendered {len(job.items)} frames of {len(job.motions)} motions to {job.manifest_path}{state}")

    def execute(self, context):
        try:
            job = self._make_job(context)
            for _ in job.steps():
                pass
        except Exception as exc:  # RenderError, SmplModelError, MotionFileError, ... all carry a message
            self.report({'ERROR'}, f"Render failed: {exc}")
            return {'CANCELLED'}
        self._finished(job)
        return {'FINISHED'}

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._job = self._make_job(context)
        except Exception as exc:
            self.report({'ERROR'}, f"Render failed: {exc}")
            return {'CANCELLED'}
        self._gen = self._job.steps()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, self._job.total)
        return {'RUNNING_MODAL'}

    def _end(self, context):
        release_modal_timer(self, context)
        context.window_manager.motionclip_status = ""
        if context.workspace:
            context.workspace.status_text_set(None)

    def _stop(self, context):
        """Close the job (its finally writes the partial manifest and removes the render scene), then the UI."""
        gen, self._gen = self._gen, None
        try:
            if gen is not None:
                gen.close()
        finally:
            self._end(context)

    def cancel(self, context):
        """Blender dropped the modal handler (a file was loaded, the window closed): same as Esc."""
        self._stop(context)

    def modal(self, context, event):
        if event.type == 'ESC' and event.value == 'PRESS':
            self._stop(context)
            self._finished(self._job)
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        try:
            done = next(self._gen)
        except StopIteration:
            self._end(context)
            self._finished(self._job)
            return {'FINISHED'}
        except Exception as exc:
            self._end(context)
            self.report({'ERROR'}, f"Render failed: {exc}")
            return {'CANCELLED'}
        msg = f"MotionCLIP: rendering frame {done}/{self._job.total}  (Esc to cancel)"
        context.window_manager.progress_update(done)
        context.window_manager.motionclip_status = msg
        if context.workspace:
            context.workspace.status_text_set(msg)
        return {'RUNNING_MODAL'}


class MOTIONCLIP_OT_use_checkpoint(bpy.types.Operator):
    """Switch the add-on to another model checkpoint (e.g. the output of motionclip finetune)"""

    bl_idname = "motionclip.use_checkpoint"
    bl_label = "Use Checkpoint"
    bl_options = {'REGISTER'}

    directory: StringProperty(name="Checkpoint", subtype='DIR_PATH', default="")
    encoder: StringProperty(
        name="Encoder", default="",
        description="Encoder spec for checkpoints in a custom CLIP space (e.g. 'clip:/path/to/weights.pt'); "
                    "empty keeps the model's own")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)  # pick the checkpoint folder
        return {'RUNNING_MODAL'}

    def execute(self, context):
        p = prefs.get_prefs(context)
        if p is None:
            self.report({'ERROR'}, "The MotionCLIP add-on preferences are not available")
            return {'CANCELLED'}
        path = bpy.path.abspath(self.directory)
        try:
            from ...core.model.checkpoint import read_meta

            meta = read_meta(path)  # validates the files before the preference changes
        except Exception as exc:
            self.report({'ERROR'}, f"Not a usable checkpoint: {exc}")
            return {'CANCELLED'}
        p.checkpoint_path = path
        p.text_encoder = self.encoder.strip()
        runtime.clear_cache()  # the next Generate loads the new model
        self.report({'INFO'}, f"Using model {path} ({meta.encoder})")
        return {'FINISHED'}


CLASSES = (MOTIONCLIP_OT_render_dataset, MOTIONCLIP_OT_use_checkpoint)
