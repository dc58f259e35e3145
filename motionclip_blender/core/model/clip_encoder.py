"""OpenAI CLIP as a MotionCLIP text/image encoder, through the ``clip`` package (``clip.load``,
``clip.tokenize``): the encoder of the paper (ViT-B/32). Named models download once; offline users give a
local weights file, recognised by its architecture (``_OPENAI_CLIP_ARCHS``) so checkpoints trained with a named
CLIP accept it. Split from ``encoders.py``, which keeps the interface, MiniLM, the spec parser and the cache."""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Any

import numpy as np
import torch

from .encoders import _BATCH, Encoder, EncoderError, _as_text_list, _finish

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
