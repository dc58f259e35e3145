"""The Retarget sub-panel: source/target pickers, map choice, and the custom map editor (one bone per SMPL
joint through ``prop_search``), saved/loaded as named JSON presets in the user preset directory.

Settings live on the scene (``scene.motionclip_retarget``) so a custom map is saved with the file; Generate
on a non-SMPL armature uses the same preset / custom map / root motion.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, PointerProperty, StringProperty

from ..core.rig import bone_names
from ..core.rig import presets as rig_maps
from ..core.motion.skeleton import JOINT_NAMES
from . import retarget

_enum_cache: list = []  # Blender keeps only pointers to dynamic enum strings: hold them here


def _preset_items(self, context):
    items = [(retarget.AUTO, "Auto-detect", "Pick the preset that matches most bones"),
             (retarget.CUSTOM, "Custom Map", "The bones chosen below")]
    try:
        for name, p in retarget.presets().items():
            items.append((name, p.label, ("Built-in" if p.builtin else "User") + f" preset ({p.path})"))
    except rig_maps.PresetError as exc:  # a broken shipped preset: show it rather than fail drawing
        items.append(("AUTO_BROKEN", "Presets unreadable", str(exc)))
    _enum_cache[:] = items
    return _enum_cache


def _is_armature(self, obj):
    return obj.type == 'ARMATURE'


class MotionCLIPRetargetJoint(bpy.types.PropertyGroup):
    joint: StringProperty(name="SMPL Joint")
    bone: StringProperty(name="Bone", description="Bone of the target that carries this SMPL joint (empty: none)")


class MotionCLIPRetargetSettings(bpy.types.PropertyGroup):
    source: PointerProperty(name="Source", type=bpy.types.Object, poll=_is_armature,
                            description="Armature whose action is retargeted (e.g. the generated SMPL rig)")
    target: PointerProperty(name="Target", type=bpy.types.Object, poll=_is_armature,
                            description="Armature to bake onto; the custom map picks its bones")
    preset: EnumProperty(name="Map", items=_preset_items,
                         description="Bone map of the target (also used by Generate on non-SMPL armatures)")
    root_motion: EnumProperty(name="Root Motion", items=retarget.ROOT_MODE_ITEMS, default='FULL')
    bones: CollectionProperty(type=MotionCLIPRetargetJoint)
    preset_name: StringProperty(name="Name", description="Name for saving the custom map as a preset")
    show_map: BoolProperty(name="Edit Custom Map", default=False)


def ensure_rows(settings) -> None:
    if [i.joint for i in settings.bones] != list(JOINT_NAMES):
        settings.bones.clear()
        for j in JOINT_NAMES:
            settings.bones.add().joint = j


def set_custom_map(settings, bone_map: dict) -> None:
    ensure_rows(settings)
    for item in settings.bones:
        item.bone = bone_map.get(item.joint, "")


class MOTIONCLIP_OT_retarget_map_fill(bpy.types.Operator):
    """Fill the custom map from a preset (or auto-detection) applied to the target armature"""

    bl_idname = "motionclip.retarget_map_fill"
    bl_label = "Fill Custom Map"
    bl_options = {'REGISTER', 'UNDO'}

    preset: StringProperty(name="Preset", default=retarget.AUTO)

    def execute(self, context):
        settings = context.scene.motionclip_retarget
        arm = settings.target
        if arm is None:
            self.report({'ERROR'}, "Pick a target armature first")
            return {'CANCELLED'}
        names = [b.name for b in arm.data.bones]
        available = retarget.presets()
        if self.preset in (retarget.AUTO, retarget.CUSTOM, ""):
            found = rig_maps.detect(names, available)
            bone_map, label = found.bone_map, found.report()
        elif self.preset in available:
            bone_map = available[self.preset].resolve(names)
            label = f"{self.preset}: {len(bone_map)}/24 joints"
        else:
            self.report({'ERROR'}, f"Unknown preset '{self.preset}'")
            return {'CANCELLED'}
        set_custom_map(settings, bone_map)
        settings.preset = retarget.CUSTOM
        self.report({'INFO'}, f"Custom map filled from {label}")
        return {'FINISHED'}


class MOTIONCLIP_OT_retarget_preset_save(bpy.types.Operator):
    """Save the custom map as a named preset in the user preset directory"""

    bl_idname = "motionclip.retarget_preset_save"
    bl_label = "Save Map Preset"

    name: StringProperty(name="Name", default="")

    def execute(self, context):
        settings = context.scene.motionclip_retarget
        name = self.name.strip() or settings.preset_name.strip()
        bone_map = {i.joint: i.bone for i in settings.bones if i.bone}
        try:
            if settings.target is not None:
                bone_map = bone_names.check_bone_map(bone_map, [b.name for b in settings.target.data.bones])
            path = rig_maps.save_preset(retarget.preset_dir(create=True), name, bone_map)
        except (rig_maps.PresetError, bone_names.BoneMapError) as exc:
            self.report({'ERROR'}, f"Preset not saved: {exc}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Saved preset '{path.stem}' ({len(bone_map)} joints) to {path}")
        return {'FINISHED'}


class MOTIONCLIP_OT_retarget_preset_load(bpy.types.Operator):
    """Load a saved preset's bones into the custom map (names are used as written)"""

    bl_idname = "motionclip.retarget_preset_load"
    bl_label = "Load Map Preset"
    bl_options = {'REGISTER', 'UNDO'}

    name: StringProperty(name="Name", default="")

    def execute(self, context):
        settings = context.scene.motionclip_retarget
        name = self.name.strip() or settings.preset_name.strip()
        path = os.path.join(retarget.preset_dir(), rig_maps.preset_file_name(name)) if name else ""
        try:
            preset = rig_maps.load_preset(path)
        except (rig_maps.PresetError, bone_names.BoneMapError) as exc:
            self.report({'ERROR'}, f"Preset not loaded: {exc}")
            return {'CANCELLED'}
        names = [b.name for b in settings.target.data.bones] if settings.target is not None else None
        bone_map = preset.resolve(names) if names is not None else {j: c[0] for j, c in preset.candidates.items()}
        set_custom_map(settings, bone_map)
        settings.preset = retarget.CUSTOM
        settings.preset_name = name
        self.report({'INFO'}, f"Loaded preset '{preset.name}' ({len(bone_map)} joints)")
        return {'FINISHED'}


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
        op = row.operator(retarget.MOTIONCLIP_OT_retarget.bl_idname, icon='ARMATURE_DATA')
        if row.enabled:
            op.source, op.target, op.preset = settings.source.name, arm.name, settings.preset
            op.root_motion = settings.root_motion

        layout.prop(settings, "show_map", icon='TRIA_DOWN' if settings.show_map else 'TRIA_RIGHT')
        if not settings.show_map:
            return
        box = layout.box()
        if arm is None:
            box.label(text="Pick a target armature to choose its bones", icon='INFO')
            return
        box.operator(MOTIONCLIP_OT_retarget_map_fill.bl_idname, icon='FILE_REFRESH').preset = retarget.AUTO
        if len(settings.bones) != len(JOINT_NAMES):
            box.label(text="Fill the map to start editing", icon='INFO')
        for item in settings.bones:
            box.prop_search(item, "bone", arm.data, "bones", text=item.joint)
        row = box.row(align=True)
        row.prop(settings, "preset_name", text="")
        row.operator(MOTIONCLIP_OT_retarget_preset_save.bl_idname, text="", icon='FILE_TICK')
        row.operator(MOTIONCLIP_OT_retarget_preset_load.bl_idname, text="", icon='FILEBROWSER')
        box.label(text=f"Presets: {retarget.preset_dir()}"[:70])


CLASSES = (MotionCLIPRetargetJoint, MotionCLIPRetargetSettings, MOTIONCLIP_OT_retarget_map_fill,
           MOTIONCLIP_OT_retarget_preset_save, MOTIONCLIP_OT_retarget_preset_load, VIEW3D_PT_motionclip_retarget)
