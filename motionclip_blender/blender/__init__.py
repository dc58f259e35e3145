"""The Blender layer of MotionCLIP: registration of every class in one place.

- ``props.py``: every PropertyGroup and where it is attached; ``prefs.py``: the add-on preferences
- ``ops/``: every operator, one module per tool; ``ui/``: every panel and list
- ``rigs.py``: one adapter per armature (bake, read back, roll back); ``bake.py``, ``readback.py``,
  ``retarget.py``, ``binding.py``, ``rig.py``, ``smpl_body.py``: what the adapters and tools are made of
- ``jobs.py``, ``runtime.py``, ``deps.py``: model jobs in a worker thread, the cached model and warm-up,
  dependencies; ``render.py``, ``demo.py``, ``commands.py``: the dataset renderer, ``make demo``, the
  ``motionclip demo`` / ``render`` commands

Register defines classes and RNA properties and starts the background warm-up (``runtime.start_warm_up``:
torch and the model load in a thread); it never touches ``bpy.data`` and never imports torch itself, so the
add-on enables even before its dependencies are installed (the preferences then offer to install them).
"""

from __future__ import annotations


def _menu_add_rig(self, context):
    self.layout.operator("motionclip.add_smpl_rig", icon='OUTLINER_OB_ARMATURE')


def register():
    import bpy

    from . import deps, ops, prefs, props, ui
    from .ops import search

    deps.ensure_path()  # the one place the private site-packages joins sys.path
    props.register()
    for cls in (*prefs.CLASSES, *ops.CLASSES, *ui.CLASSES):
        bpy.utils.register_class(cls)
    search.register_handlers()
    bpy.types.VIEW3D_MT_armature_add.append(_menu_add_rig)
    _start_warm_up()


def _start_warm_up():
    """Load torch and the model in the background right away (see ``runtime.start_warm_up``); the settings
    come from the preferences when Blender has them ready, else the defaults (the bundled model)."""
    from . import prefs, runtime

    try:
        settings = prefs.model_settings()
    except Exception:  # noqa: BLE001 - a restricted context during start-up: the defaults will do
        settings = prefs.ModelSettings()
    runtime.start_warm_up(settings)


def unregister():
    import bpy

    from . import ops, prefs, props, ui
    from .ops import search

    bpy.types.VIEW3D_MT_armature_add.remove(_menu_add_rig)
    search.unregister_handlers()
    for cls in reversed((*prefs.CLASSES, *ops.CLASSES, *ui.CLASSES)):
        bpy.utils.unregister_class(cls)
    props.unregister()
