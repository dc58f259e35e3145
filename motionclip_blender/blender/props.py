"""Every PropertyGroup of the add-on and where each is attached, registered in one place.

- ``Scene.motionclip``: Generate's inputs (prompt, length, seed and options), saved with the file
- ``Scene.motionclip_latent``: the latent tools' inputs; ``Object.motionclip_recognition``: a rig's last
  recognition
- ``Scene.motionclip_retarget``: the Retarget panel (source, target, map, custom bones)
- ``Scene.motionclip_search``: Search Actions' query and hits
- ``Scene.motionclip_render``: the Fine-tuning panel's Render Dataset settings
- ``Action.motionclip_fps``: the rate an action's keys were recorded at (0: the scene's)
- ``WindowManager.motionclip_status`` / ``motionclip_progress``: the running job (never saved)

Options an operator shares with a panel's settings are declared once, in a mixin both inherit
(``GenerateOptions``, ``RenderOptions``); ``SECONDS`` is the one clip length of every tool.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty,
)

from . import retarget
from ..core.rig import presets as rig_maps

_enum_cache: list = []

# The one definition of a clip length, for Generate, the latent operators and the panel's setting.
SECONDS = dict(name="Length", description="Length of the motion in seconds (frames follow the scene fps; checked "
               "against the model's limit when it runs: 40 s for the bundled model)",
               default=2.0, min=0.1, soft_max=20.0, max=120.0, subtype='TIME_ABSOLUTE', unit='TIME_ABSOLUTE')


TRANSITION_SECONDS = dict(name="Transition Length", default=1.0, min=0.1, max=20.0, subtype='TIME_ABSOLUTE',
                          unit='TIME_ABSOLUTE', description="Length of the latent transition between two clips")


class GenerateOptions:
    """Generate's options, declared once: the scene's settings (``MotionCLIPSettings``) and the operator
    (``ops.generate``) both inherit them (Blender registers properties of mixin classes)."""

    seconds: FloatProperty(**SECONDS)
    seed: IntProperty(name="Seed",
                      description="Variation seed: 0 is the prompt's own motion, others give reproducible variations",
                      default=0, min=0)
    clean_feet: BoolProperty(
        name="Clean Feet", default=True,
        description="Plant the feet during contacts (no sliding) and keep every joint above the floor")
    loop: BoolProperty(
        name="Loop", default=False,
        description="Make a seamless cycle that plays endlessly (Cycles modifiers, root travel carried on)")
    root: EnumProperty(name="Root Motion", default='full', items=(
        ('full', "Full", "Root moves as generated"),
        ('forward', "Forward Only", "Root moves only along the first frame's facing (no sideways drift)"),
        ('in_place', "In Place", "Root stays where it starts")))
    use_keys: BoolProperty(
        name="Use Keys", default=False,
        description="Pass through the poses keyed on the armature's active action within the clip's range (from the "
                    "scene start); with an empty prompt, in-between them")
    key_root: BoolProperty(
        name="Key Root Position", default=False,
        description="With Use Keys: hold the keyed root positions too (else only the poses)")
    sequence: BoolProperty(
        name="Sequence", default=False,
        description="Split the prompt at commas and 'then' into actions played one after another ('walk forward "
                    "(2 s), then jump, then squat down'); parts without a length share Length")
    sequence_strips: BoolProperty(
        name="As NLA Strips", default=False,
        description="With Sequence: also lay the parts out as NLA strips (one per part) to move or retime them")


class MotionCLIPSettings(GenerateOptions, bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", description="What the character does, e.g. 'a person jumps'",
                           default="a person jumps")


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
    transition_seconds: FloatProperty(**TRANSITION_SECONDS)
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


def _preset_items(self, context):
    items = [(retarget.AUTO, "Auto-detect", "Pick the preset that matches most bones"),
             (retarget.CUSTOM, "Custom Map", "The bones chosen below")]
    try:
        for name, p in retarget.presets().items():
            items.append((name, p.label, ("Built-in" if p.builtin else "User") + f" preset ({p.path})"))
    except rig_maps.PresetError as exc:  # a broken shipped preset: show it rather than fail drawing
        items.append(("AUTO_BROKEN", "Presets unreadable", str(exc)))
    chosen = getattr(self, "preset_id", retarget.AUTO)
    if chosen and chosen not in {i[0] for i in items}:  # saved with a preset that is not installed here
        items.append((chosen, f"{chosen} (not installed)", "This file's map; install the preset or pick another"))
    # Blender keeps pointers into the list: it must outlive the call; numbered by position, which is all
    # the enum's get/set exchange (the choice itself is stored by name in ``preset_id``)
    _enum_cache[:] = [(*item, "", n) for n, item in enumerate(items)]
    return _enum_cache


def _get_preset(self) -> int:
    items = _preset_items(self, None)
    return next((n for ident, _, _, _, n in items if ident == self.preset_id), 0)


def _set_preset(self, value: int) -> None:
    self.preset_id = next(ident for ident, _, _, _, n in _preset_items(self, None) if n == value)


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
    # The map is kept by name: a dynamic enum saves only a position in its list, which points at another
    # preset (or none) once presets are added or removed. ``preset`` is the menu over it.
    preset_id: StringProperty(name="Map Name", default=retarget.AUTO,
                              description="Name of the target's bone map: AUTO, CUSTOM or a preset")
    preset: EnumProperty(name="Map", items=_preset_items, get=_get_preset, set=_set_preset,
                         description="Bone map of the target (also used by Generate on non-SMPL armatures)")
    root_motion: EnumProperty(name="Root Motion", items=retarget.ROOT_MODE_ITEMS, default='FULL')
    bones: CollectionProperty(type=MotionCLIPRetargetJoint)
    preset_name: StringProperty(name="Name", description="Name for saving the custom map as a preset")
    show_map: BoolProperty(name="Edit Custom Map", default=False)


class MotionCLIPSearchHit(bpy.types.PropertyGroup):
    score: FloatProperty(name="Score", description="Cosine between the action's latent and the search text")


class MotionCLIPSearch(bpy.types.PropertyGroup):
    query: StringProperty(name="Find", description="What the action should show, e.g. 'a person jumps'",
                          default="a person jumps")
    top_k: IntProperty(name="Hits", default=10, min=1, max=100)
    hits: CollectionProperty(type=MotionCLIPSearchHit)
    hits_index: IntProperty()


class RenderOptions:
    """Render Dataset's options, declared once: the Fine-tuning panel's settings and the operator inherit them."""

    directory: StringProperty(name="Output Folder", subtype='DIR_PATH', default="//motionclip_renders/")
    source: EnumProperty(name="Motions", items=[
        ('ACTIONS', "SMPL Actions", "Every action in this file that animates SMPL bones"),
        ('FILES', "Motion Files", "Every .npz / .bvh file in the input folder")], default='ACTIONS')
    input_directory: StringProperty(name="Input Folder", subtype='DIR_PATH', default="")
    frames_per_motion: IntProperty(name="Frames per Motion", default=4, min=1, soft_max=32)
    size: IntProperty(name="Size", description="Square image size (CLIP ViT-B/32 uses 224)", default=224, min=32,
                      max=1024)
    engine: EnumProperty(name="Engine", items=[
        ('WORKBENCH', "Workbench", "Fast flat shading (~0.05 s per frame)"),
        ('EEVEE', "EEVEE", "Lit materials; seconds per frame and a long first shader compile")], default='WORKBENCH')


class MotionCLIPRenderSettings(RenderOptions, bpy.types.PropertyGroup):
    """The Fine-tuning panel's inputs for Render Dataset (handed to the operator, like Generate's)."""


CLASSES = (MotionCLIPSettings, MotionCLIPLabel, MotionCLIPRecognitionItem, MotionCLIPRecognition,
           MotionCLIPLatentSettings, MotionCLIPRetargetJoint, MotionCLIPRetargetSettings, MotionCLIPSearchHit,
           MotionCLIPSearch, MotionCLIPRenderSettings)

_ATTACHED = (
    (bpy.types.Scene, "motionclip", lambda: PointerProperty(type=MotionCLIPSettings)),
    (bpy.types.Scene, "motionclip_latent", lambda: PointerProperty(type=MotionCLIPLatentSettings)),
    (bpy.types.Scene, "motionclip_retarget", lambda: PointerProperty(type=MotionCLIPRetargetSettings)),
    (bpy.types.Scene, "motionclip_search", lambda: PointerProperty(type=MotionCLIPSearch)),
    (bpy.types.Scene, "motionclip_render", lambda: PointerProperty(type=MotionCLIPRenderSettings)),
    (bpy.types.Object, "motionclip_recognition", lambda: PointerProperty(type=MotionCLIPRecognition)),
    (bpy.types.Action, "motionclip_fps", lambda: FloatProperty(
        name="Action FPS", default=0.0, min=0.0, max=1000.0,
        description="Frames per second this action's keys were recorded at (mocap imported without Scale FPS "
                    "keys one frame per mocap frame); 0 uses the scene's")),
    (bpy.types.WindowManager, "motionclip_status", lambda: StringProperty(options={'SKIP_SAVE'})),
    (bpy.types.WindowManager, "motionclip_progress", lambda: FloatProperty(options={'SKIP_SAVE'}, min=0, max=1)),
)


def register() -> None:
    """Register the PropertyGroups and attach them (called by ``blender.register``)."""
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    for owner, name, make in _ATTACHED:
        setattr(owner, name, make())


def unregister() -> None:
    for owner, name, _ in reversed(_ATTACHED):
        if hasattr(owner, name):
            delattr(owner, name)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
