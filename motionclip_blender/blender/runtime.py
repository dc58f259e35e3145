"""The loaded model, cached across generations and safe to call from the worker thread.

Loading (torch import, weights, text encoder) takes seconds; keeping one model per settings makes the
second Generate instant. Nothing here touches ``bpy`` data, so it runs off the main thread. The core
(and therefore torch) is imported lazily so the add-on registers and its preferences open — to
install torch — even when torch is missing.
"""

from __future__ import annotations

import inspect
import threading

from . import deps

_lock = threading.Lock()
_cache: dict[tuple, object] = {}


class DependencyError(RuntimeError):
    """torch or another runtime requirement cannot be imported."""


def get_model(settings: dict):
    """The MotionCLIP model for ``settings`` (from ``prefs.model_settings``); raises ``ModelLoadError``
    for missing/broken model files and ``DependencyError`` for missing packages."""
    missing = deps.missing_modules()
    if missing:
        raise DependencyError(deps.missing_message(missing))
    try:
        import torch

        from ..core.api import load_model
    except ImportError as exc:
        raise DependencyError(f"{deps.missing_message([exc.name or str(exc)])} ({exc})") from exc
    key = (settings.get("path"), settings.get("encoder"))
    with _lock:
        if settings.get("threads"):
            torch.set_num_threads(int(settings["threads"]))
        model = _cache.get(key)
        if model is None:
            kwargs = {"path": settings.get("path")}
            # The encoder override is passed only if this core version supports one.
            if settings.get("encoder") and "encoder" in inspect.signature(load_model).parameters:
                kwargs["encoder"] = settings["encoder"]
            model = load_model(**kwargs)
            _cache.clear()  # one model at a time: they are large
            _cache[key] = model
        return model


def model_load_error():
    """The core's ModelLoadError class (imported lazily; a never-raised stand-in if the core is unavailable)."""
    try:
        from ..core.api import ModelLoadError
    except ImportError:
        return DependencyError
    return ModelLoadError


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def generate_motion(settings: dict, prompt: str, seconds: float, seed: int | None):
    """Prompt -> (Motion at the model's fps, info for the action's custom properties). Thread-safe.

    Seed 0 (or None) decodes the prompt's own embedding — the model's best guess; seeds 1, 2, … are
    reproducible variations around it (the UI's "variation seed")."""
    model = get_model(settings)
    frames = max(2, int(round(seconds * model.fps)))
    motion = model.generate(prompt, frames=frames, seed=int(seed) if seed else None)
    info = {"prompt": prompt, "model": str(model.name), "encoder": str(model.encoder_name),
            "seed": int(seed or 0), "seconds": float(seconds), "model_fps": float(model.fps)}
    return motion, info
