"""The Retarget sub-panel: source/target pickers, map choice, and the custom map editor (one bone per SMPL
joint through ``prop_search``), saved/loaded as named JSON presets in the user preset directory.

Settings live on the scene (``props.MotionCLIPRetargetSettings``) so a custom map is saved with the file;
Generate on a non-SMPL armature uses the same preset / custom map / root motion."""

from __future__ import annotations

import bpy

from ...core.motion.skeleton import JOINT_NAMES
from .. import retarget


class VIEW3D_PT_motionclip_retarget(bpy.types.Panel):
    bl_label = "Retarget"
    bl_idname = "VIEW3D_PT_motionclip_retarget"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MotionCLIP"
    bl_parent_id = "VIEW3D_PT_motionclip"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.motionclip_retarget
        col = layout.column(align=True)
        col.prop(settings, "source")
        col.prop(settings, "target")
        layout.prop(settings, "preset")
        layout.prop(settings, "root_motion")
        arm = settings.target
        if arm is not None:
            preset, custom, _ = retarget.scene_options(context)
            try:
                _, label = retarget.resolve_map(arm, preset, custom)
                layout.label(text=label[:70], icon='CHECKMARK')
            except retarget.MapError as exc:
                layout.label(text=str(exc)[:70], icon='ERROR')
        row = layout.row()
        row.enabled = settings.source is not None and arm is not None
        op = row.operator("motionclip.retarget", icon='ARMATURE_DATA')
        if row.enabled:
            op.source, op.target, op.preset = settings.source.name, arm.name, settings.preset_id
            op.root_motion = settings.root_motion

        layout.prop(settings, "show_map", icon='TRIA_DOWN' if settings.show_map else 'TRIA_RIGHT')
        if not settings.show_map:
            return
        box = layout.box()
        if arm is None:
            box.label(text="Pick a target armature to choose its bones", icon='INFO')
            return
        box.operator("motionclip.retarget_map_fill", icon='FILE_REFRESH').preset = retarget.AUTO
        if len(settings.bones) != len(JOINT_NAMES):
            box.label(text="Fill the map to start editing", icon='INFO')
        for item in settings.bones:
            box.prop_search(item, "bone", arm.data, "bones", text=item.joint)
        row = box.row(align=True)
        row.prop(settings, "preset_name", text="")
        row.operator("motionclip.retarget_preset_save", text="", icon='FILE_TICK')
        row.operator("motionclip.retarget_preset_load", text="", icon='FILEBROWSER')
        box.label(text=f"Presets: {retarget.preset_dir()}"[:70])


CLASSES = (VIEW3D_PT_motionclip_retarget,)
