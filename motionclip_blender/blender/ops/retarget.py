"""The Retarget operator (any mapped rig onto any other, through SMPL) and the custom map editor's operators:
fill the map from a preset or detection, save it as a named preset, load one."""

from __future__ import annotations

import json
import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ...core.errors import MotionCLIPError
from ...core.motion.skeleton import JOINT_NAMES
from ...core.rig import bone_names
from ...core.rig import presets as rig_maps
from .. import deps, retarget, rig
from ..retarget import (
    AUTO, CUSTOM, ROOT_MODE_ITEMS, MapError, action_frames, read_motion, resolve_map, retarget_motion, scene_options,
)


def _armature(name: str, role: str):
    obj = bpy.data.objects.get(name) if name else None
    if obj is None:
        raise MapError(f"no {role} armature named '{name}'" if name else f"no {role} armature given")
    if obj.type != 'ARMATURE':
        raise MapError(f"{role} '{obj.name}' is not an armature (it is a {obj.type.lower()})")
    problem = rig.animation_problem(obj)  # the source too: reading assigns its action for a moment
    if problem:
        raise MapError(f"{role}: {problem}")
    return obj


class MOTIONCLIP_OT_retarget(bpy.types.Operator):
    """Bake the source armature's action onto the target armature through their bone maps"""

    bl_idname = "motionclip.retarget"
    bl_label = "Retarget"
    bl_options = {'REGISTER', 'UNDO'}

    source: StringProperty(name="Source", description="Armature carrying the action (e.g. a generated SMPL rig)")
    target: StringProperty(name="Target", description="Armature to bake onto (default: the active object)")
    preset: StringProperty(name="Target Map", default=AUTO,
                           description="AUTO (detect), CUSTOM (the panel's map) or a preset name for the target")
    source_preset: StringProperty(name="Source Map", default=AUTO, description="Bone map of the source, as above")
    bone_map: StringProperty(name="Bone Map JSON", default="",
                             description='Explicit target map {"smpl_joint": "bone"}, overrides the preset')
    root_motion: EnumProperty(name="Root Motion", items=ROOT_MODE_ITEMS, default='FULL')
    set_frame_range: BoolProperty(name="Set Frame Range", default=False,
                                  description="Fit the scene frame range to the retargeted action")

    def _target_map(self, context):
        if self.bone_map.strip():
            try:
                custom = json.loads(self.bone_map)
            except json.JSONDecodeError as exc:
                raise MapError(f"bone_map is not valid JSON ({exc})") from None
            if not isinstance(custom, dict):
                raise MapError('bone_map must be a JSON object {"smpl_joint": "bone name"}')
            return CUSTOM, custom
        preset, custom, _ = scene_options(context)
        return self.preset, custom if self.preset == CUSTOM else None

    def execute(self, context):
        problem = deps.dependency_problem()
        if problem:
            self.report({'ERROR'}, problem)
            return {'CANCELLED'}
        from ..bake import mode_note, rotation_modes

        try:
            source = _armature(self.source, "source")
            target = _armature(self.target or (context.active_object.name if context.active_object else ""),
                               "target")
            if source == target:
                raise MapError("source and target are the same armature")
            first, last = action_frames(source)
            preset, custom = self._target_map(context)
            resolve_map(target, preset, custom)  # fail on the target before reading the source
            src_custom = scene_options(context)[1] if self.source_preset == CUSTOM else None
            motion = read_motion(context, source, first, last, self.source_preset, src_custom)
            src_action = source.animation_data.action
            modes = rotation_modes(target)
            action, notes = retarget_motion(
                context, target, motion, f"{src_action.name}_{target.name}", preset=preset, custom=custom,
                root_mode=self.root_motion, start_frame=first,
                props={"retarget_source": source.name, "retarget_source_action": src_action.name})
        except MotionCLIPError as exc:  # MapError, RetargetError, a NaN in the source (InputError), ...
            self.report({'ERROR'}, f"Retarget failed: {exc}")
            return {'CANCELLED'}
        if self.set_frame_range:
            context.scene.frame_start, context.scene.frame_end = first, last
        notes += [n for n in (mode_note(target, modes),) if n]
        self.report({'INFO'}, f"Retargeted {len(motion)} frames from '{source.name}' onto '{target.name}' as "
                              f"'{action.name}' ({'; '.join(notes)})")
        return {'FINISHED'}


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


CLASSES = (MOTIONCLIP_OT_retarget, MOTIONCLIP_OT_retarget_map_fill, MOTIONCLIP_OT_retarget_preset_save,
           MOTIONCLIP_OT_retarget_preset_load)
