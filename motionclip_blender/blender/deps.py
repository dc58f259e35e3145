"""Runtime dependencies (torch, …) inside Blender: where they live and how they get there.

Blender's bundled Python has numpy but no torch. The add-on keeps its own dependencies in the
extension's user directory (``bpy.utils.extension_path_user(<package>, path="site-packages")``), which
survives extension updates, and this module is the ONE place that puts it on ``sys.path``. The
directory is *appended*, so Blender's own modules (numpy in particular) keep precedence.

The install button runs Blender's own interpreter (``sys.executable -m pip install --target …``) in a
subprocess — never in-process, so a failing or slow pip cannot freeze or corrupt Blender — and only
when the user allowed online access (``bpy.app.online_access``, an extensions-platform requirement).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import queue
import shlex
import subprocess
import sys

import bpy

# The runtime pins, read from the one file that holds them (requirements.txt includes it with ``-r``; the
# extension zip ships it inside the package). numpy is not in it: Blender bundles its own.
REQUIREMENTS_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "runtime-requirements.txt")


def read_requirements(path: str = REQUIREMENTS_FILE) -> tuple[str, ...]:
    """The requirement lines of a pip requirements file (comments and blank lines dropped)."""
    with open(path, encoding="utf-8") as fh:
        lines = (line.split("#", 1)[0].strip() for line in fh)
        return tuple(line for line in lines if line)


REQUIREMENTS = read_requirements()
# Modules generation cannot start without (import name -> pip name).
REQUIRED_MODULES = {"torch": "torch", "safetensors": "safetensors"}

ADDON_PACKAGE = __package__.rpartition(".")[0]  # "motionclip_blender" or "bl_ext.<repo>.motionclip_blender"


def site_packages_dir(create: bool = True) -> str:
    """The add-on's private site-packages directory.

    Installed as an extension: the extension's user directory. Enabled as a legacy add-on from a
    checkout (tests, developers): a folder with the same layout under Blender's user extensions dir."""
    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except ValueError:  # "package does not name an extension"
        return bpy.utils.user_resource(
            'EXTENSIONS', path=f".user/{ADDON_PACKAGE.rpartition('.')[2]}/site-packages", create=create)


def ensure_path(create: bool = False) -> str | None:
    """Put the private site-packages on ``sys.path`` if it exists (idempotent); returns it or None.

    Without ``create`` nothing is written to disk, so registering the add-on or running the demo
    never creates user directories; the installer creates it and calls this again."""
    path = site_packages_dir(create=create)
    if not path or not os.path.isdir(path):
        return None
    if path not in sys.path:
        sys.path.append(path)
        sys.path_importer_cache.pop(path, None)  # it may have been cached as missing earlier
        importlib.invalidate_caches()
    return path


def missing_modules() -> list[str]:
    """Pip names of required modules that cannot be imported (looking in the private dir too)."""
    missing = [pip for mod, pip in REQUIRED_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing and ensure_path():
        missing = [pip for mod, pip in REQUIRED_MODULES.items() if importlib.util.find_spec(mod) is None]
    return missing


_import_problem: list[str] = []  # filled once: importing torch is slow, and a broken install stays broken


def dependency_problem() -> str | None:
    """None when generation can start, else one line saying what is wrong and what to do: packages missing, or
    present but failing to import (a broken or mismatched torch: a missing shared library, a wrong build)."""
    missing = missing_modules()
    if missing:
        return missing_message(missing)
    if not _import_problem:
        try:
            import torch  # noqa: F401
            import safetensors.torch  # noqa: F401
            _import_problem.append("")
        except Exception as exc:  # ImportError, OSError from a shared library, RuntimeError from torch itself
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            _import_problem.append(f"torch is installed but cannot be imported ({type(exc).__name__}: {first}). "
                                   "Reinstall it: Edit > Preferences > Add-ons > MotionCLIP > Install Dependencies, "
                                   "then restart Blender")
    return _import_problem[0] or None


def missing_message(missing: list[str]) -> str:
    return (f"Missing Python dependencies: {', '.join(missing)}. Install them from "
            "Edit > Preferences > Add-ons > MotionCLIP > Install Dependencies")


def manual_command() -> str:
    """The install command for a terminal, quoted for a POSIX shell (``setuptools>=77.0.3,<81`` unquoted would
    redirect pip's output into a file named ``=77.0.3,``)."""
    return shlex.join(pip_command(site_packages_dir(create=False)))


def pip_command(target: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--upgrade", "--target", target, *REQUIREMENTS]


class _Install:
    """State of the one running install, read by the preferences panel."""

    proc: subprocess.Popen | None = None
    lines: "queue.Queue[str]" = queue.Queue()
    last_line = ""
    count = 0


def _pump(proc: subprocess.Popen) -> None:
    for line in proc.stdout:  # runs in a helper thread: the pipe must be drained or pip blocks
        _Install.lines.put(line.rstrip())


def install_status() -> str:
    if _Install.proc is not None and _Install.proc.poll() is None:
        return f"Installing… {_Install.last_line[:80]}"
    return _Install.last_line
