"""The Blender layer of MotionCLIP: registration of every class in one place.

Register defines classes and RNA properties and starts the background warm-up (``runtime.start_warm_up``:
torch and the model load in a thread); it never touches ``bpy.data`` and never imports torch itself, so the
add-on enables even before its dependencies are installed (the preferences then offer to install them). Submodules are imported inside ``register``.
"""

from __future__ import annotations


def _classes():
    from . import (
        deps,
        latent_ops,
        latent_panel,
        operators,
        panel,
        prefs,
        render_ops,
        retarget,
        retarget_ui,
        search_ops,
    )

    return (*deps.CLASSES, *prefs.CLASSES, *operators.CLASSES, *panel.CLASSES, *retarget.CLASSES,
            *retarget_ui.CLASSES, *latent_ops.CLASSES, *latent_panel.CLASSES, *search_ops.CLASSES,
            *render_ops.CLASSES)


def _menu_add_rig(self, context):
    self.layout.operator("motionclip.add_smpl_rig", icon='OUTLINER_OB_ARMATURE')


def register():
    import bpy

    from . import deps, latent_panel, panel, retarget_ui, search_ops

    deps.ensure_path()  # the one place the private site-packages joins sys.path
    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.motionclip = bpy.props.PointerProperty(type=panel.MotionCLIPSettings)
    bpy.types.Scene.motionclip_retarget = bpy.props.PointerProperty(type=retarget_ui.MotionCLIPRetargetSettings)
    bpy.types.WindowManager.motionclip_status = bpy.props.StringProperty(options={'SKIP_SAVE'})
    bpy.types.WindowManager.motionclip_progress = bpy.props.FloatProperty(options={'SKIP_SAVE'}, min=0, max=1)
    latent_panel.register_properties()
    search_ops.register_properties()
    bpy.types.VIEW3D_MT_armature_add.append(_menu_add_rig)
    _start_warm_up()


def _start_warm_up():
    """Load torch and the model in the background right away (see ``runtime.start_warm_up``); the settings
    come from the preferences when Blender has them ready, else the defaults (the bundled model)."""
    from . import prefs, runtime

    try:
        settings = prefs.model_settings()
    except Exception:  # noqa: BLE001 - a restricted context during start-up: the defaults will do
        settings = {"path": None, "encoder": None, "threads": 0}
    runtime.start_warm_up(settings)


def unregister():
    import bpy

    from . import latent_panel, search_ops

    bpy.types.VIEW3D_MT_armature_add.remove(_menu_add_rig)
    search_ops.unregister_properties()
    latent_panel.unregister_properties()
    del bpy.types.WindowManager.motionclip_progress
    del bpy.types.WindowManager.motionclip_status
    del bpy.types.Scene.motionclip_retarget
    del bpy.types.Scene.motionclip
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
