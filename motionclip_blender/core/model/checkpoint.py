"""Checkpoints: safetensors weights + a JSON config, written atomically, loaded without unpickling.

Layout: a directory holding ``model.safetensors`` and ``config.json``. ``config.json`` records the
architecture, the embedding space (text/image encoder), fps, clip length, skeleton, the frame the
features live in and a SHA-256 of the weights, so a truncated or swapped file is caught before use.

``import_official`` reads the paper's PyTorch checkpoints (a state dict saved with ``torch.save``)
with ``torch.load(weights_only=True)`` - the restricted unpickler that only rebuilds tensors.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import MotionCLIPError
from .network import FEATURE_ROWS, FEATURE_WIDTH, ModelConfig, MotionCLIPModel

FORMAT = "motionclip-blender-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
TMP_SUFFIX = ".tmp"
OLD_SUFFIX = ".old"


class CheckpointError(MotionCLIPError, RuntimeError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


@dataclass
class CheckpointMeta:
    model: ModelConfig
    encoder: str  # embedding space, e.g. "minilm:all-MiniLM-L6-v2" or "clip:ViT-B/32"
    encoder_dim: int
    fps: float = 30.0
    frames: int = 60
    skeleton: str = "smpl24"
    # "blender": Z up, facing -Y (this project); "smpl": Y up, facing +Z (the paper's features)
    feature_frame: str = "blender"
    extra: dict = field(default_factory=dict)  # training provenance, metrics, ...

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model.to_dict(),
            "encoder": {"name": self.encoder, "dim": self.encoder_dim}, "fps": self.fps, "frames": self.frames,
            "skeleton": self.skeleton, "feature_frame": self.feature_frame, "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "CheckpointMeta":
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: not a MotionCLIP-Blender checkpoint config (a JSON {type(data).__name__})")
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{source}: not a MotionCLIP-Blender checkpoint config (format={data.get('format')!r})")
        version = data.get("format_version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise CheckpointError(f"{source}: format_version must be a whole number, got {version!r}")
        if version > FORMAT_VERSION:
            raise CheckpointError(f"{source}: written by a newer version (format {version}); update the add-on")
        try:
            meta = cls(
                model=ModelConfig.from_dict(data["model"]), encoder=data["encoder"]["name"],
                encoder_dim=int(data["encoder"]["dim"]), fps=float(data["fps"]), frames=int(data["frames"]),
                skeleton=data.get("skeleton", "smpl24"), feature_frame=data.get("feature_frame", "blender"),
                extra=data.get("extra", {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{source}: invalid checkpoint config ({exc})") from None
        if not (math.isfinite(meta.fps) and 1 <= meta.fps <= 1000):
            raise CheckpointError(f"{source}: fps must be between 1 and 1000, got {meta.fps}")
        if not 1 <= meta.frames <= meta.model.max_frames:
            raise CheckpointError(f"{source}: frames must be between 1 and max_frames {meta.model.max_frames}, "
                                  f"got {meta.frames}")
        if meta.skeleton != "smpl24":
            raise CheckpointError(f"{source}: unsupported skeleton {meta.skeleton!r} (expected 'smpl24')")
        if meta.feature_frame not in ("blender", "smpl"):
            raise CheckpointError(f"{source}: unknown feature_frame {meta.feature_frame!r}")
        if meta.model.latent_dim != meta.encoder_dim:
            raise CheckpointError(
                f"{source}: latent_dim {meta.model.latent_dim} != encoder dim {meta.encoder_dim} ({meta.encoder})")
        return meta


def config_digest(data: dict) -> str:
    """SHA-256 of everything in a config.json but its own digest (the weights' hash included), so an edited
    fps, activation or head count is caught like a swapped weights file."""
    body = {k: v for k, v in data.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint directory, or its model.safetensors / config.json -> the directory."""
    p = Path(path).expanduser()
    if p.is_file() and p.name in (WEIGHTS_NAME, CONFIG_NAME):
        p = p.parent
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint")
    if not p.is_dir():
        raise CheckpointError(f"{p}: a checkpoint is a directory with {WEIGHTS_NAME} and {CONFIG_NAME}")
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        if not (p / name).is_file():
            raise CheckpointError(f"{p}: missing {name}")
    return p


def save_checkpoint(model: MotionCLIPModel, meta: CheckpointMeta, directory: str | os.PathLike,
                    half: bool = False, extra: dict[str, Callable[[Path], None]] | None = None) -> Path:
    """Write a checkpoint so that a crash at any point leaves a loadable one (after :func:`recover`).

    The files (weights, config with their hash, and each ``extra`` file written by its callable into the
    given path, e.g. the optimiser state) go to a temporary directory beside the target and are synced to
    disk; the target is then renamed to ``<name>.old``, the temporary directory to the target, and the old
    copy removed. A crash between the two renames leaves ``<name>.old`` and a complete temporary directory,
    which :func:`recover` (run first here, and at every training start) turns back into ``<name>``.
    Files other than the weights and config that lived in the old directory (a model card, a latent bank)
    are carried over unless ``extra`` wrote a new one. One writer per directory."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    recover(directory)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=TMP_SUFFIX, dir=directory.parent))
    try:
        state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT})
        for name, write in (extra or {}).items():
            write(tmp / name)
        if directory.is_dir():  # keep e.g. a model card or a latent bank that lives beside the weights
            for f in directory.iterdir():
                if f.is_file() and f.name not in (WEIGHTS_NAME, CONFIG_NAME) and not (tmp / f.name).exists():
                    shutil.copy2(f, tmp / f.name)
        data = meta.to_dict()
        data["weights_sha256"] = _sha256(tmp / WEIGHTS_NAME)
        data["config_sha256"] = config_digest(data)
        (tmp / CONFIG_NAME).write_text(json.dumps(data, indent=2), encoding="utf-8")  # last: marks it complete
        _ordinary_permissions(tmp)
        _fsync_tree(tmp)
        if directory.exists():
            old = directory.with_name(directory.name + OLD_SUFFIX)
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            _fsync_dir(directory.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
            _fsync_dir(directory.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def recover(directory: str | os.PathLike) -> Path | None:
    """Finish or roll back a save that was interrupted, and remove stale temporaries. Returns the checkpoint
    directory if one exists afterwards.

    - ``<name>`` missing, ``<name>.old`` present: the crash came between the two renames; the newest complete
      temporary copy (its config written and its weights matching the hash) becomes ``<name>``, else the
      old one comes back.
    - ``<name>`` and ``<name>.old`` both present: the crash came after the swap; the old copy goes.
    - temporary ``.<name>.*.tmp`` directories left by any crash are removed."""
    directory = Path(directory)
    parent, name = directory.parent, directory.name
    if not parent.is_dir():
        return None
    old = directory.with_name(name + OLD_SUFFIX)
    temps = sorted((p for p in parent.glob(f".{name}.*{TMP_SUFFIX}") if p.is_dir()),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    if not directory.exists() and old.is_dir():
        done = next((t for t in temps if _complete(t)), None)
        os.replace(done if done is not None else old, directory)
        _fsync_dir(parent)
    if directory.exists() and old.exists():
        shutil.rmtree(old, ignore_errors=True)
    for t in temps:
        shutil.rmtree(t, ignore_errors=True)
    return directory if directory.is_dir() else None


def _complete(tmp: Path) -> bool:
    try:
        data = json.loads((tmp / CONFIG_NAME).read_text(encoding="utf-8"))
        return data.get("weights_sha256") == _sha256(tmp / WEIGHTS_NAME)
    except (OSError, ValueError, AttributeError):
        return False


def _ordinary_permissions(tmp: Path) -> None:
    """mkdtemp makes a private 0700 directory: give the checkpoint ordinary permissions (umask applies)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    for f in tmp.iterdir():
        os.chmod(f, 0o666 & ~umask)


def _fsync_tree(directory: Path) -> None:
    for f in directory.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Make renames inside ``directory`` durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_config(d: Path) -> dict:
    try:
        return json.loads((d / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or bytes that are not UTF-8
        raise CheckpointError(f"{d / CONFIG_NAME}: unreadable config ({exc})") from None


def read_meta(path: str | os.PathLike) -> CheckpointMeta:
    d = resolve(path)
    return CheckpointMeta.from_dict(_read_config(d), str(d / CONFIG_NAME))


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> tuple[MotionCLIPModel, CheckpointMeta]:
    d = resolve(path)
    data = _read_config(d)
    meta = CheckpointMeta.from_dict(data, str(d / CONFIG_NAME))
    if verify and "config_sha256" in data and config_digest(data) != data["config_sha256"]:
        raise CheckpointError(f"{d / CONFIG_NAME}: edited after it was written (its digest does not match); "
                              f"settings such as fps or num_heads must match the weights")
    expected = data.get("weights_sha256")
    if verify and expected and _sha256(d / WEIGHTS_NAME) != expected:
        raise CheckpointError(f"{d / WEIGHTS_NAME}: weights do not match config.json (truncated or replaced file)")
    try:
        state = load_file(str(d / WEIGHTS_NAME))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{d / WEIGHTS_NAME}: cannot read weights ({exc})") from None
    model = MotionCLIPModel(meta.model)
    state = {k: v.float() for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches still raise with strict=False
        raise CheckpointError(f"{d}: weights do not fit the config ({str(exc).splitlines()[-1].strip()})") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{d}: weights do not fit the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    return model, meta


_LAYER_RE = re.compile(r"^(encoder\.seqTransEncoder|decoder\.seqTransDecoder)\.layers\.(\d+)\.")


def import_official(path: str | os.PathLike, num_heads: int = 4, encoder: str = "clip:ViT-B/32",
                    fps: float = 30.0, frames: int = 60) -> tuple[MotionCLIPModel, CheckpointMeta]:
    """Load a checkpoint of the paper's code (``encoder.muQuery``, ``encoder.skelEmbedding``,
    ``encoder.seqTransEncoder.layers.N...``, ``decoder.seqTransDecoder.layers.N...``,
    ``decoder.finallayer``; input [batch, 25, 6, frames]). Heads cannot be inferred from shapes; the
    paper uses 4. Keys of the bundled CLIP model and unused ablation parameters are ignored."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"{p}: no such file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, foreign objects refused by weights_only
        raise CheckpointError(f"{p}: not a readable PyTorch state dict ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "encoder.skelEmbedding.weight" not in state:
        raise CheckpointError(f"{p}: not a MotionCLIP checkpoint (no encoder.skelEmbedding.weight)")
    emb = state["encoder.skelEmbedding.weight"]
    d_model, in_feats = emb.shape
    if in_feats != FEATURE_ROWS * FEATURE_WIDTH:
        raise CheckpointError(f"{p}: expects {in_feats} input features; only 25 x 6 (rot6d + translation) is supported")
    layers = {"encoder.seqTransEncoder": set(), "decoder.seqTransDecoder": set()}
    for key in state:
        m = _LAYER_RE.match(key)
        if m:
            layers[m.group(1)].add(int(m.group(2)))
    ff = state["encoder.seqTransEncoder.layers.0.linear1.weight"].shape[0]
    cfg = ModelConfig(d_model=d_model, latent_dim=d_model, num_encoder_layers=len(layers["encoder.seqTransEncoder"]),
                      num_decoder_layers=len(layers["decoder.seqTransDecoder"]), num_heads=num_heads, ff_size=ff,
                      normalize_latent=False)
    model = MotionCLIPModel(cfg)
    wanted = model.state_dict()
    converted = {}
    for key, value in state.items():
        if key in ("encoder.muQuery", "encoder.sigmaQuery"):
            value = value[:1]  # older code keeps one row per class; row 0 is the one used
        if key in wanted:
            converted[key] = value.float()
    missing = [k for k in wanted if k not in converted]
    if missing:
        raise CheckpointError(f"{p}: checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
    model.load_state_dict(converted)
    model.eval()
    meta = CheckpointMeta(model=cfg, encoder=encoder, encoder_dim=d_model, fps=fps, frames=frames,
                          feature_frame="smpl", extra={"imported_from": p.name})
    return model, meta
