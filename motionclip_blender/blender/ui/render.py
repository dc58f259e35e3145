"""The Fine-tuning sub-panel: render a dataset of this file's SMPL actions (or motion files) for CLIP image
alignment (``motionclip finetune`` runs outside Blender), then switch the add-on to the fine-tuned checkpoint."""

from __future__ import annotations

import bpy

from .. import prefs
from .main import VIEW3D_PT_motionclip


class VIEW3D_PT_motionclip_finetune(bpy.types.Panel):
    bl_label = "Fine-tuning"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MotionCLIP"
    bl_parent_id = VIEW3D_PT_motionclip.bl_idname
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        s, layout = context.scene.motionclip_render, self.layout
        col = layout.column()
        col.prop(s, "source")
        if s.source == 'FILES':
            col.prop(s, "input_directory")
        col.prop(s, "directory")
        row = col.row(align=True)
        row.prop(s, "frames_per_motion", text="Frames")
        row.prop(s, "size")
        col.prop(s, "engine")
        busy = bool(context.window_manager.motionclip_status)
        row = col.row()
        row.enabled = not busy
        op = row.operator("motionclip.render_dataset", icon='RENDER_STILL')
        for name in ("directory", "source", "input_directory", "frames_per_motion", "size", "engine"):
            setattr(op, name, getattr(s, name))
        layout.separator()
        p = prefs.get_prefs(context)
        current = p.checkpoint_path.strip() if p is not None else ""
        layout.label(text=f"Model: {current or 'bundled'}", icon='FILE_3D')
        layout.operator("motionclip.use_checkpoint", text="Use Checkpoint…", icon='FILEBROWSER')


CLASSES = (VIEW3D_PT_motionclip_finetune,)
