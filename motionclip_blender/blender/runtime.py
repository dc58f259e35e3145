"""The loaded model, cached across generations and safe to call from the worker thread.

Loading (torch import, weights, text encoder) takes seconds; keeping one model per settings makes the
second Generate instant. Nothing here touches ``bpy`` data, so it runs off the main thread. The core
(and therefore torch) is imported lazily so the add-on registers and its preferences open — to
install torch — even when torch is missing.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from ..core.errors import MotionCLIPError
from . import deps

if TYPE_CHECKING:
    from .prefs import ModelSettings

_lock = threading.Lock()
_cache: dict[tuple, object] = {}


class DependencyError(MotionCLIPError, RuntimeError):
    """torch or another runtime requirement cannot be imported."""


class LengthError(MotionCLIPError, ValueError):
    """A clip is longer than the model can decode; the message names the limit in seconds."""


def get_model(settings: "ModelSettings"):
    """The MotionCLIP model for ``settings`` (from ``prefs.model_settings``); raises ``ModelLoadError``
    for missing/broken model files and ``DependencyError`` for missing packages."""
    problem = deps.dependency_problem()
    if problem:
        raise DependencyError(problem)
    import torch

    from ..core.model.api import load_model
    key = (settings.path, settings.encoder)
    with _lock:
        if settings.threads:
            torch.set_num_threads(int(settings.threads))
        model = _cache.get(key)
        if model is None:
            model = load_model(path=settings.path, encoder=settings.encoder)
            _cache.clear()  # one model at a time: they are large
            _cache[key] = model
        return model


WARM_UP_ENV = "MOTIONCLIP_NO_WARMUP"
_warm_up: threading.Thread | None = None


def start_warm_up(settings: "ModelSettings") -> threading.Thread | None:
    """Import torch, load the model and its text encoder and run one tiny generation in a background thread,
    so the first Generate clicked after Blender starts finds everything ready (cold, that costs ~4 s: torch
    1 s, sentence-transformers 3 s). Never blocks the caller; does nothing when dependencies are missing, a
    warm-up already ran, or ``$MOTIONCLIP_NO_WARMUP`` is set. Failures stay silent here: Generate reports them."""
    global _warm_up
    if _warm_up is not None or os.environ.get(WARM_UP_ENV) or deps.missing_modules():  # (no import here)
        return None

    def work():
        try:
            get_model(settings).generate("a person walks", frames=30)
        except Exception:  # noqa: BLE001 - the operator that needs the model reports the problem
            pass

    # Not a daemon: Python waits for it at exit. A daemon thread still inside torch when Blender (or a script)
    # exits is killed mid-call, and torch's thread pool then aborts the process ("terminate called without an
    # active exception"); the wait is at most the few seconds the warm-up takes.
    _warm_up = threading.Thread(target=work, name="motionclip-warm-up", daemon=False)
    _warm_up.start()
    return _warm_up


def cached_model(settings: "ModelSettings"):
    """The model for ``settings`` if it is already loaded, else None (never loads: safe in a panel's draw)."""
    return _cache.get((settings.path, settings.encoder))


def max_seconds(model) -> float:
    """The longest clip ``model`` decodes, in seconds (its decoder's ``max_frames`` at its fps)."""
    return int(model.max_frames) / float(model.fps)


def check_frames(model, frames: int, what: str) -> int:
    """``frames`` (at the model's fps) if the model can decode that many, else LengthError naming the limit.
    Called before any model work, so an over-long request fails before anything is computed or created."""
    limit = int(model.max_frames)
    if frames > limit:
        raise LengthError(f"{what} is longer than model '{model.name}' can make: at most {max_seconds(model):g} s "
                          f"({limit} frames at {float(model.fps):g} fps)")
    return frames


def decode_frames(model, seconds: float, what: str = "Length") -> int:
    """Frames at the model's fps for a clip of ``seconds`` (the bake resamples them to the scene's fps after),
    checked against the model's limit."""
    return check_frames(model, max(2, int(round(float(seconds) * model.fps))), f"{what} {float(seconds):g} s")


def model_load_error():
    """The core's ModelLoadError class (imported lazily; a never-raised stand-in if the core is unavailable)."""
    try:
        from ..core.model.api import ModelLoadError
    except ImportError:
        return DependencyError
    return ModelLoadError


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def generate_motion(settings: "ModelSettings", prompt: str, seconds: float, seed: int | None, clean_feet: bool = True,
                    loop: bool = False, root: str = "full", keys: dict | None = None, key_fps: float | None = None,
                    key_root: bool = False, sequence: bool = False):
    """Prompt -> (Motion at the model's fps, info for the action's custom properties). Thread-safe.

    Seed 0 (or None) is the prompt's own motion — the model's best guess; seeds 1, 2, … are reproducible
    variations (the UI's "variation seed"). With ``loop`` the motion is a closed cycle: its last frame is
    its first moved by one cycle's travel, ready for a Cycles modifier (``timeline.closed_loop``).

    ``keys`` {scene frame offset: one-frame Motion} at ``key_fps`` (the scene's): the motion passes through them
    (``core/keys.py``) and comes back at ``key_fps``, exact at those frames after the resampling too.
    ``sequence``: the prompt is split into parts ("walk, then jump (1 s)"); parts without a length share
    ``seconds``; ``info["segments"]`` holds [text, first frame, end frame] at the model's fps."""
    from ..core.motion import timeline

    model = get_model(settings)
    frames = decode_frames(model, seconds)
    segments, seed = None, int(seed) if seed else None
    if sequence:
        from ..core.model.sequence import parse_sequence

        parts = parse_sequence(prompt)
        timed = sum(p.seconds for p in parts if p.seconds is not None)
        untimed = [p for p in parts if p.seconds is None]
        each = max(0.5, (seconds - timed) / len(untimed)) if untimed else None
        motion, found = model.generate_sequence(prompt, seconds=each, seed=seed,
                                                clean_feet=clean_feet, root=root)
        segments = [[s.text, s.start, s.end] for s in found]
    elif keys:
        from ..core.model.keys import enforce_keys

        at_model = {min(frames - 1, int(round(f * model.fps / key_fps))): pose for f, pose in keys.items()}
        motion = model.generate(prompt, frames=frames, seed=seed, clean_feet=clean_feet,
                                root=root, keys=at_model, key_root=key_root).at_fps(key_fps)
        motion = enforce_keys(motion, {f: p for f, p in keys.items() if f < len(motion)}, key_root)
    else:
        motion = model.generate(prompt, frames=frames, seed=seed, clean_feet=clean_feet,
                                loop=loop, root=root)
    if loop:
        motion = timeline.closed_loop(motion)
    info = {"prompt": prompt, "model": str(model.name), "encoder": str(model.encoder_name),
            "seed": int(seed or 0), "seconds": float(seconds), "model_fps": float(model.fps),
            "clean_feet": bool(clean_feet), "loop": bool(loop), "root": root, "keys": len(keys or {})}
    if model.bank is not None and not (sequence or keys):
        # what the take was decoded from (as ``generate`` picks it): the report and the action say so
        info["drawn_from"] = model.bank.describe(model.bank_pick(model.text_latent([prompt])[0], seed, prompt))
    if segments:
        import json

        info["segments"] = json.dumps(segments)
    return motion, info
