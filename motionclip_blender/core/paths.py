"""Where the bundled files live, for both layouts the package ships in (no ``bpy``).

- Repository / pip install: ``<repo>/motionclip_blender/`` next to ``<repo>/assets/``.
- Installed Blender extension: the zip's root *is* the package (``blender_manifest.toml``,
  ``__init__.py``, ``core/``, ``blender/``) and ``assets/`` is copied inside it by
  ``tools/build_extension.py``.

Everything that needs a bundled file (model, encoder weights) asks :func:`assets_dir` so the two
layouts are handled in exactly one place.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ASSETS_ENV = "MOTIONCLIP_ASSETS"


def assets_dir() -> Path:
    """The bundled assets directory: ``$MOTIONCLIP_ASSETS`` if set, else ``<package>/assets`` (extension),
    else ``<repo>/assets``. Returns the repo location when none exists, so error messages name the
    place a developer checkout expects."""
    override = os.environ.get(ASSETS_ENV)
    if override:
        return Path(override)
    inside = PACKAGE_DIR / "assets"
    if inside.is_dir():
        return inside
    return PACKAGE_DIR.parent / "assets"


DATA_ENV = "MOTIONCLIP_DATA"


def data_root() -> Path:
    """The motion corpora (``cmu/``, ``hdm05/``) for training, evaluation and the data-driven tests:
    ``$MOTIONCLIP_DATA`` if set, else ``shared/data`` beside the repository (where this project's machines
    keep it; it is never copied into the repository). The one place that location is written."""
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else PACKAGE_DIR.parent.parent / "shared" / "data"


def model_dir() -> Path:
    """Directory of the bundled MotionCLIP model (``assets/model``)."""
    return assets_dir() / "model"
