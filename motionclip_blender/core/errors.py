"""One base class for every error whose message is written for the user.

The command line and the Blender operators catch :class:`MotionCLIPError` and show its message in one line
(exit code 2, an error report); anything else is a bug and keeps its traceback. Each module's own error
(``MotionFileError``, ``CheckpointError``, ...) derives from it, and from the built-in class it has always been
(ValueError or RuntimeError), so ``except ValueError`` in user code keeps working.
"""

from __future__ import annotations


class MotionCLIPError(Exception):
    """A problem with the user's input, files or settings; the message says what and where."""


class InputError(MotionCLIPError, ValueError):
    """An argument or setting out of range, of the wrong kind or inconsistent with another."""


class InputTypeError(MotionCLIPError, TypeError):
    """An argument of the wrong type (a prompt where a Motion is needed, ...)."""
