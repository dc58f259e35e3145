"""The ``motionclip`` console script: the core's commands plus the Blender layer's (demo, render). It lives
above both layers so that the core never imports the Blender one."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from .blender.commands import add_commands
    from .core.cli import main as core_main

    return core_main(argv, extra=add_commands)


if __name__ == "__main__":
    sys.exit(main())
