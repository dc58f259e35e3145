"""MotionCLIP for Blender.

The package is both a plain Python library (``motionclip_blender.core``, no ``bpy``) and the Blender
add-on module: ``register``/``unregister`` import the Blender layer lazily so that importing the core
outside Blender never needs ``bpy``.
"""

__version__ = "0.2.0"  # the one place: pyproject and the extension manifest take it from here


def register():
    from .blender import register as _register

    _register()


def unregister():
    from .blender import unregister as _unregister

    _unregister()
