"""Motion maths: the ``Motion`` type, rotations, the SMPL skeleton, forward kinematics, heading, contacts and
timelines (length, loops, root modes). ``from motionclip_blender.core.motion import Motion`` is the public path.

``Motion`` is resolved lazily: it needs torch, and the torch-free modules here (``skeleton``, ``quaternions``)
are imported by the Blender layer before torch may be installed."""

_PUBLIC = ("Motion", "MotionFileError", "NPZ_FORMAT", "check_output_path")
__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        from . import motion
        return getattr(motion, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
