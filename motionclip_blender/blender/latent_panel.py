"""The "Latent Tools" sub-panels of the MotionCLIP sidebar: Blend, Edit, Recognize, Variations.

Inputs live on the scene (``scene.motionclip_latent``) so they are saved with the file; clip pickers are
Action pointers there and are handed to the operators by name (operator properties cannot point at IDs).
Recognition results live on the armature (``object.motionclip_recognition``) so each rig keeps its own.
The label list is a collection on the scene, seeded from ``assets/labels.txt`` on first use (registering
may not touch data, so seeding happens in an operator: Reset, or the first Recognize).
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty,
)

PARENT = "VIEW3D_PT_motionclip"


class MotionCLIPLabel(bpy.types.PropertyGroup):
    name: StringProperty(name="Label", description="An action label for Recognize, e.g. 'sit down'")


class MotionCLIPRecognitionItem(bpy.types.PropertyGroup):
    name: StringProperty(name="Label")
    score: FloatProperty(name="Score", description="Cosine similarity between the motion and the label")


class MotionCLIPRecognition(bpy.types.PropertyGroup):
    action: StringProperty(name="Action", description="The action these labels were computed for")
    items: CollectionProperty(type=MotionCLIPRecognitionItem)


class MotionCLIPLatentSettings(bpy.types.PropertyGroup):
    # blend / interpolate
    mode: EnumProperty(name="Mode", items=(('SEQUENCE', "Sequence", "B after A on NLA tracks, crossfaded"),
                                           ('MIX', "Mix", "One clip from (1 − α)·zA + α·zB")))
    prompt_a: StringProperty(name="A", default="a person walks forward")
    action_a: PointerProperty(name="Action A", type=bpy.types.Action, description="Use this action as clip A")
    prompt_b: StringProperty(name="B", default="a person sits down")
    action_b: PointerProperty(name="Action B", type=bpy.types.Action, description="Use this action as clip B")
    crossfade: IntProperty(name="Crossfade", default=10, min=0, soft_max=60, description="Frames")
    transition: BoolProperty(name="Latent Transition", default=False)
    transition_seconds: FloatProperty(name="Length", default=1.0, min=0.1, max=20.0)
    alpha: FloatProperty(name="α", default=0.5, min=0.0, max=1.0, subtype='FACTOR')
    count: IntProperty(name="In-betweens", default=3, min=1, max=32)
    # edit
    base_prompt: StringProperty(name="Base", description="Empty with no base action: the active action")
    base_action: PointerProperty(name="Base Action", type=bpy.types.Action)
    minus_prompt: StringProperty(name="Minus", default="walk")
    minus_action: PointerProperty(name="Minus Action", type=bpy.types.Action)
    plus_prompt: StringProperty(name="Plus", default="run with raised arms")
    plus_action: PointerProperty(name="Plus Action", type=bpy.types.Action)
    # variations
    var_prompt: StringProperty(name="Prompt", default="a person jumps")
    var_count: IntProperty(name="Count", default=4, min=1, max=32)
    var_seed: IntProperty(name="First Seed", default=1, min=1)
    var_amount: FloatProperty(name="Amount", default=0.25, min=0.0, soft_max=1.0, max=4.0)
    # recognize
    labels: CollectionProperty(type=MotionCLIPLabel)
    labels_index: IntProperty(name="Active Label")
    labels_seeded: BoolProperty(description="The list was filled once; an empty list is then the user's choice")


# --- label list editing -----------------------------------------------------------------------------------
class MOTIONCLIP_OT_labels_reset(bpy.types.Operator):
    """Replace the label list with the add-on's default labels (assets/labels.txt)"""

    bl_idname = "motionclip.labels_reset"
    bl_label = "Reset Labels"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        from ..core.model.labels import default_labels

        labels = default_labels()
        if not labels:
            self.report({'ERROR'}, "The default label file (assets/labels.txt) is missing or empty")
            return {'CANCELLED'}
        settings = context.scene.motionclip_latent
        settings.labels.clear()
        for label in labels:
            settings.labels.add().name = label
        settings.labels_seeded = True
        settings.labels_index = 0
        self.report({'INFO'}, f"{len(labels)} default labels")
        return {'FINISHED'}


class MOTIONCLIP_OT_label_add(bpy.types.Operator):
    """Add a label to the recognition list"""

    bl_idname = "motionclip.label_add"
    bl_label = "Add Label"
    bl_options = {'REGISTER', 'UNDO'}

    name: StringProperty(name="Label", default="new label")

    def execute(self, context):
        settings = context.scene.motionclip_latent
        settings.labels.add().name = self.name
        settings.labels_seeded = True
        settings.labels_index = len(settings.labels) - 1
        return {'FINISHED'}


class MOTIONCLIP_OT_label_remove(bpy.types.Operator):
    """Remove the selected label from the recognition list"""

    bl_idname = "motionclip.label_remove"
    bl_label = "Remove Label"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = context.scene.motionclip_latent
        return 0 <= s.labels_index < len(s.labels)

    def execute(self, context):
        settings = context.scene.motionclip_latent
        settings.labels.remove(settings.labels_index)
        settings.labels_seeded = True
        settings.labels_index = min(settings.labels_index, len(settings.labels) - 1)
        return {'FINISHED'}


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


PROPERTY_CLASSES = (MotionCLIPLabel, MotionCLIPRecognitionItem, MotionCLIPRecognition, MotionCLIPLatentSettings)
CLASSES = (*PROPERTY_CLASSES, MOTIONCLIP_OT_labels_reset, MOTIONCLIP_OT_label_add, MOTIONCLIP_OT_label_remove,
           MOTIONCLIP_UL_labels, VIEW3D_PT_motionclip_latent, VIEW3D_PT_motionclip_blend, VIEW3D_PT_motionclip_edit,
           VIEW3D_PT_motionclip_recognize, VIEW3D_PT_motionclip_variations)


def register_properties():
    bpy.types.Action.motionclip_fps = FloatProperty(
        name="Action FPS", default=0.0, min=0.0, max=1000.0,
        description="Frames per second this action's keys were recorded at (mocap imported without Scale FPS "
                    "keys one frame per mocap frame); 0 uses the scene's")
    bpy.types.Scene.motionclip_latent = PointerProperty(type=MotionCLIPLatentSettings)
    bpy.types.Object.motionclip_recognition = PointerProperty(type=MotionCLIPRecognition)


def unregister_properties():
    del bpy.types.Action.motionclip_fps
    del bpy.types.Object.motionclip_recognition
    del bpy.types.Scene.motionclip_latent
