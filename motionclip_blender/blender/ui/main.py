"""The "MotionCLIP" tab in the 3D Viewport sidebar.

Prompt, length and seed live on the scene (``scene.motionclip``, ``props.py``) so they are saved with the file and
remembered between generations; the panel passes them to the operator explicitly.
"""

from __future__ import annotations

import bpy

from .. import prefs, runtime
from ..ops.generate import check_target


def length_problem(context, seconds: float) -> str:
    """Why ``seconds`` is too long for the loaded model ("" when it fits, or before a model is loaded; the
    operators check again with the model in hand)."""
    model = runtime.cached_model(prefs.model_settings(context))
    if model is None:
        return ""
    try:
        runtime.decode_frames(model, seconds)
    except runtime.LengthError:
        return f"Longer than the model's {runtime.max_seconds(model):g} s limit"
    return ""


class VIEW3D_PT_motionclip(bpy.types.Panel):
    bl_label = "MotionCLIP"
    bl_idname = "VIEW3D_PT_motionclip"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MotionCLIP"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motionclip
        col = layout.column()
        col.prop(settings, "prompt", text="")
        row = col.row(align=True)
        row.prop(settings, "seconds")
        row.prop(settings, "seed")
        row = col.row(align=True)
        row.prop(settings, "clean_feet", toggle=True)
        row.prop(settings, "loop", toggle=True)
        col.prop(settings, "root", text="Root")
        row = col.row(align=True)
        row.prop(settings, "use_keys", toggle=True)
        sub = row.row(align=True)
        sub.enabled = settings.use_keys
        sub.prop(settings, "key_root", toggle=True, text="Root Keys")
        row = col.row(align=True)
        row.prop(settings, "sequence", toggle=True)
        sub = row.row(align=True)
        sub.enabled = settings.sequence
        sub.prop(settings, "sequence_strips", toggle=True)
        fps = context.scene.render.fps / context.scene.render.fps_base
        col.label(text=f"{round(settings.seconds * fps)} frames at {fps:g} fps")
        too_long = length_problem(context, settings.seconds)
        if too_long:
            col.label(text=too_long, icon='ERROR')

        arm, reason = check_target(context)
        box = layout.box()
        if arm is not None:
            box.label(text=f"Target: {arm.name}", icon='ARMATURE_DATA')
        else:
            box.label(text=reason[:60], icon='ERROR')

        status = context.window_manager.motionclip_status
        if status:
            layout.label(text=status, icon='TIME')
        row = layout.row()
        row.scale_y = 1.4
        row.enabled = arm is not None and (bool(settings.prompt.strip()) or settings.use_keys) and not status \
            and not too_long
        op = row.operator("motionclip.generate", text="Generate", icon='PLAY')
        op.prompt, op.seconds, op.seed = settings.prompt, settings.seconds, settings.seed
        op.clean_feet, op.loop, op.root = settings.clean_feet, settings.loop, settings.root
        op.use_keys, op.key_root = settings.use_keys, settings.key_root
        op.sequence, op.sequence_strips = settings.sequence, settings.sequence_strips
        op.set_frame_range = True
        layout.operator("motionclip.add_smpl_rig", icon='OUTLINER_OB_ARMATURE')


CLASSES = (VIEW3D_PT_motionclip,)
