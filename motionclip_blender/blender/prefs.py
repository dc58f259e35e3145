"""Add-on preferences (model checkpoint, text encoder, torch threads, dependency installer) and the typed
``ModelSettings`` read from them, the one value the model loader, the warm-up and every job receive."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.props import IntProperty, StringProperty

from . import deps


class MotionCLIPPreferences(bpy.types.AddonPreferences):
    # Must equal the add-on's module name, which differs between a checkout and an installed extension.
    bl_idname = deps.ADDON_PACKAGE

    checkpoint_path: StringProperty(
        name="Model",
        description="MotionCLIP model directory or .safetensors file; empty uses the model bundled with the add-on",
        subtype='FILE_PATH', default="")
    text_encoder: StringProperty(
        name="Text Encoder",
        description="Text encoder override (e.g. 'minilm', 'clip:ViT-B/32'); empty uses the encoder the model "
                    "was trained with, which is almost always what you want",
        default="")
    smpl_model_path: StringProperty(
        name="SMPL Model",
        description="Your SMPL / SMPL-X model file (SMPL_NEUTRAL.pkl, SMPLX_NEUTRAL.npz) or the folder smplx expects; "
                    "used as the body in rendered fine-tuning datasets. Empty uses the built-in mannequin",
        subtype='FILE_PATH', default="")
    torch_threads: IntProperty(
        name="CPU Threads", description="Threads torch may use for generation (0 = torch's default)",
        default=0, min=0, max=256)

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "checkpoint_path")
        col.prop(self, "text_encoder")
        col.prop(self, "torch_threads")
        col.prop(self, "smpl_model_path")

        box = layout.box()
        box.label(text="Python dependencies", icon='SCRIPTPLUGINS')
        missing = deps.missing_modules()
        if missing:
            box.label(text="Missing: " + ", ".join(missing), icon='ERROR')
        else:
            box.label(text="torch and the other requirements are importable", icon='CHECKMARK')
        row = box.row()
        row.enabled = bool(bpy.app.online_access)
        row.operator("motionclip.install_dependencies", icon='IMPORT')
        if not bpy.app.online_access:
            box.label(text="Online access is off (Preferences > System > Network)", icon='INFO')
        status = deps.install_status()
        if status:
            box.label(text=status)
        box.label(text="Location: " + deps.site_packages_dir(create=False))


def get_prefs(context=None):
    """The add-on preferences, or None when the add-on is not registered as such (e.g. the demo script)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(deps.ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


@dataclass(frozen=True)
class ModelSettings:
    """Which model to load and how: plain values read on the main thread, safe to hand to a worker thread.
    Hashable: (path, encoder) keys the loaded-model cache. The defaults are the bundled model."""

    path: str | None = None  # checkpoint directory; None = the bundled model
    encoder: str | None = None  # text encoder spec; None = the checkpoint's own
    threads: int = 0  # torch threads; 0 = torch's default

    @classmethod
    def from_prefs(cls, p) -> "ModelSettings":
        """From the add-on preferences ``p`` (relative paths resolved against the .blend)."""
        path = bpy.path.abspath(p.checkpoint_path) if p.checkpoint_path.strip() else None
        return cls(path, p.text_encoder.strip() or None, int(p.torch_threads))


def model_settings(context=None) -> ModelSettings:
    """The preferences' ModelSettings, the defaults when the add-on has none (e.g. the demo script)."""
    p = get_prefs(context)
    return ModelSettings() if p is None else ModelSettings.from_prefs(p)


CLASSES = (MotionCLIPPreferences,)
