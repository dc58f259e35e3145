"""The "Latent Tools" sub-panels of the MotionCLIP sidebar: Blend, Edit, Recognize, Variations.

Inputs live on the scene (``scene.motionclip_latent``, ``props.py``) so they are saved with the file; clip pickers are
Action pointers there and are handed to the operators by name (operator properties cannot point at IDs).
Recognition results live on the armature (``object.motionclip_recognition``) so each rig keeps its own.
The label list is a collection on the scene, seeded from ``assets/labels.txt`` on first use (registering
may not touch data, so seeding happens in an operator: Reset, or the first Recognize; ``ops/latent.py``).
"""

from __future__ import annotations

import bpy

PARENT = "VIEW3D_PT_motionclip"


class MOTIONCLIP_UL_labels(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        layout.prop(item, "name", text="", emboss=False)


# --- panels -----------------------------------------------------------------------------------------------
def _busy(context) -> bool:
    return bool(context.window_manager.motionclip_status)


def _source_row(layout, settings, prompt: str, action: str):
    row = layout.row(align=True)
    row.prop(settings, prompt)
    row.prop(settings, action, text="")


def _fill(op, settings, pairs) -> None:
    """Copy panel settings into operator properties: pointer -> action name, strings and numbers as is."""
    for op_name, value in pairs:
        setattr(op, op_name, value.name if isinstance(value, bpy.types.ID) else ("" if value is None else value))


class VIEW3D_PT_motionclip_latent(bpy.types.Panel):
    bl_label = "Latent Tools"
    bl_idname = "VIEW3D_PT_motionclip_latent"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MotionCLIP"
    bl_parent_id = PARENT

    def draw(self, context):
        wm = context.window_manager
        if wm.motionclip_status:
            self.layout.progress(factor=wm.motionclip_progress, type='BAR', text=wm.motionclip_status.removeprefix("MotionCLIP: ")[:50])
        else:
            self.layout.label(text="Clips: a prompt, or pick an action", icon='INFO')


class _Child:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MotionCLIP"
    bl_parent_id = VIEW3D_PT_motionclip_latent.bl_idname
    bl_options = {'DEFAULT_CLOSED'}


class VIEW3D_PT_motionclip_blend(_Child, bpy.types.Panel):
    bl_label = "Blend & Interpolate"

    def draw(self, context):
        s, layout = context.scene.motionclip_latent, self.layout
        _source_row(layout, s, "prompt_a", "action_a")
        _source_row(layout, s, "prompt_b", "action_b")
        layout.prop(s, "mode", expand=True)
        if s.mode == 'SEQUENCE':
            layout.prop(s, "crossfade")
            row = layout.row(align=True)
            row.prop(s, "transition")
            row.prop(s, "transition_seconds")
        else:
            layout.prop(s, "alpha", slider=True)
        col = layout.column()
        col.enabled = not _busy(context)
        op = col.operator("motionclip.blend", icon='NLA')
        _fill(op, s, (("mode", s.mode), ("prompt_a", s.prompt_a), ("action_a", s.action_a), ("prompt_b", s.prompt_b),
                      ("action_b", s.action_b), ("crossfade", s.crossfade), ("transition", s.transition),
                      ("transition_seconds", s.transition_seconds), ("alpha", s.alpha),
                      ("seconds", context.scene.motionclip.seconds)))
        row = col.row(align=True)
        row.prop(s, "count")
        op = row.operator("motionclip.interpolate", text="Interpolate")
        _fill(op, s, (("prompt_a", s.prompt_a), ("action_a", s.action_a), ("prompt_b", s.prompt_b),
                      ("action_b", s.action_b), ("count", s.count), ("seconds", context.scene.motionclip.seconds)))


class VIEW3D_PT_motionclip_edit(_Child, bpy.types.Panel):
    bl_label = "Edit"

    def draw(self, context):
        s, layout = context.scene.motionclip_latent, self.layout
        for slot in ("base", "minus", "plus"):
            _source_row(layout, s, f"{slot}_prompt", f"{slot}_action")
        col = layout.column()
        col.enabled = not _busy(context)
        op = col.operator("motionclip.edit", icon='MODIFIER')
        _fill(op, s, [(f"{k}_{kind}", getattr(s, f"{k}_{kind}")) for k in ("base", "minus", "plus")
                      for kind in ("prompt", "action")] + [("seconds", context.scene.motionclip.seconds)])


class VIEW3D_PT_motionclip_recognize(_Child, bpy.types.Panel):
    bl_label = "Recognize"

    def draw(self, context):
        s, layout = context.scene.motionclip_latent, self.layout
        obj = context.active_object
        col = layout.column()
        col.enabled = not _busy(context)
        col.operator("motionclip.recognize", icon='VIEWZOOM')
        action = obj.animation_data.action if obj is not None and obj.animation_data else None
        if action is not None:
            layout.prop(action, "motionclip_fps")
        result = getattr(obj, "motionclip_recognition", None) if obj is not None else None
        if result is not None and len(result.items):
            box = layout.box()
            box.label(text=f"{result.action}:", icon='ACTION')
            for item in result.items:
                row = box.row()
                row.label(text=item.name)
                row.label(text=f"{item.score:.3f}")
        layout.label(text="Labels" + ("" if s.labels_seeded else " (defaults are loaded on first use)"))
        row = layout.row()
        row.template_list("MOTIONCLIP_UL_labels", "", s, "labels", s, "labels_index", rows=4)
        side = row.column(align=True)
        side.operator("motionclip.label_add", icon='ADD', text="")
        side.operator("motionclip.label_remove", icon='REMOVE', text="")
        side.separator()
        side.operator("motionclip.labels_reset", icon='FILE_REFRESH', text="")


class VIEW3D_PT_motionclip_variations(_Child, bpy.types.Panel):
    bl_label = "Variations"

    def draw(self, context):
        s, layout = context.scene.motionclip_latent, self.layout
        layout.prop(s, "var_prompt")
        row = layout.row(align=True)
        row.prop(s, "var_count")
        row.prop(s, "var_seed")
        layout.prop(s, "var_amount", slider=True)
        col = layout.column()
        col.enabled = not _busy(context)
        op = col.operator("motionclip.variations", icon='MOD_ARRAY')
        _fill(op, s, (("prompt", s.var_prompt), ("count", s.var_count), ("seed", s.var_seed),
                      ("variation", s.var_amount), ("seconds", context.scene.motionclip.seconds)))


CLASSES = (MOTIONCLIP_UL_labels, VIEW3D_PT_motionclip_latent, VIEW3D_PT_motionclip_blend, VIEW3D_PT_motionclip_edit,
           VIEW3D_PT_motionclip_recognize, VIEW3D_PT_motionclip_variations)
