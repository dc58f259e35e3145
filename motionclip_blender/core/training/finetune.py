"""``motionclip finetune``: fine-tune a checkpoint on rendered frames with the paper's image-alignment loss.

    motionclip finetune --model CKPT --renders DIR/manifest.json --clip clip:/path/ViT-B-32.pt --out RUN [--steps N]

Inputs are a checkpoint and a dataset written by ``motionclip render`` (``blender/render.py``): motions saved as
``.npz`` and K rendered frames of each with a text label. The CLIP image embeddings of all frames are computed
once up front through the real ``clip.load`` (``encoders.load_encoder``), as are the label embeddings, so the
encoder never runs inside the loop. Each sample is the model-length window around a rendered frame; the loss is
the paper's reconstruction terms + ``text`` (1 - cos(z, CLIP text)) + ``image`` (1 - cos(z, CLIP image)).

Design choice — same space only. The latent *is* a point of the encoder's space: generation decodes CLIP text
embeddings directly. A checkpoint trained in another space (e.g. the offline MiniLM one, 384-d) cannot be pulled
toward CLIP images without breaking that; a projection head would align a different vector than the one
generation decodes. So fine-tuning requires a checkpoint already in the CLIP space of ``--clip`` (train one
with ``motionclip train`` and ``"encoder": "clip:ViT-B/32"``), and anything else is refused with a clear error.

Output: ``<out>/checkpoint`` (atomic ``save_checkpoint``) plus ``<out>/finetune_state.pt`` (optimiser, step,
RNG); rerunning the same command resumes. The new checkpoint loads with ``load_model(<out>/checkpoint)`` and in
the add-on through Preferences > Model (or the Use Checkpoint operator).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import MotionCLIPError
from ..model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from ..model.encoders import EncoderMismatchError, check_encoder_matches, load_encoder
from .losses import LossWeights, cosine_loss, reconstruction_losses, total_loss
from ..motion.motion import Motion

CHECKPOINT_NAME = "checkpoint"
STATE_NAME = "finetune_state.pt"
MANIFEST_FORMAT = "motionclip-render-manifest"


class FinetuneError(MotionCLIPError, ValueError):
    """Fine-tuning cannot start; the message names the input and the fix."""


@dataclass
class FinetuneConfig:
    model: str
    renders: str
    clip: str
    out: str
    steps: int = 200
    batch_size: int = 16
    lr: float = 2e-5  # small: we start from a trained model
    weight_decay: float = 0.01
    image_weight: float | None = None  # None: the checkpoint's training weight, else the paper's 0.1
    text_weight: float | None = None
    heading_prob: float = 0.5  # as in training: latents are heading-invariant, the decoder's target is canonical
    checkpoint_every: int = 100
    seed: int = 0


@dataclass
class RenderedSet:
    """Precomputed training material: canonical windows, their encoder inputs, and CLIP targets."""

    windows: list[Motion]  # canonical windows (decoder targets), one per rendered frame
    image_emb: torch.Tensor  # (N, dim)
    text_emb: torch.Tensor  # (N, dim)
    labels: list[str]


def read_manifest(path: str | os.PathLike) -> tuple[Path, dict]:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "manifest.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FinetuneError(f"{p}: cannot read the render manifest ({exc}); create it with 'motionclip render'") from None
    if data.get("format") != MANIFEST_FORMAT:
        raise FinetuneError(f"{p}: not a MotionCLIP render manifest (format={data.get('format')!r})")
    if not data.get("items"):
        raise FinetuneError(f"{p}: the manifest lists no rendered frames")
    return p, data


def _window_around(motion: Motion, index: int, frames: int) -> Motion:
    """The ``frames``-long window containing ``index`` (centred where possible); shorter clips are used whole."""
    if len(motion) <= frames:
        return motion
    start = int(np.clip(index - frames // 2, 0, len(motion) - frames))
    return motion[start:start + frames]


def build_set(manifest_path, meta: CheckpointMeta, encoder, progress: bool = True) -> RenderedSet:
    path, data = read_manifest(manifest_path)
    root = path.parent
    motions = {}
    for m in data["motions"]:
        motions[m["id"]] = Motion.load_npz(root / m["motion"])
    windows, images, labels = [], [], []
    for item in data["items"]:
        motion = motions.get(item["motion_id"])
        if motion is None:
            raise FinetuneError(f"{path}: item {item['path']} refers to unknown motion {item['motion_id']!r}")
        # Rendered frame numbers index the saved motion at its own fps; the model runs at meta.fps.
        index = int(round(item["frame"] / motion.fps * meta.fps))
        resampled = motion.at_fps(meta.fps)
        index = min(index, len(resampled) - 1)
        windows.append(_window_around(resampled, index, meta.frames).canonical())
        images.append(str(root / item["path"]))
        labels.append(str(item["label"]))
    image_emb = []
    for i in tqdm(range(0, len(images), 64), desc="CLIP image embeddings", unit="batch", disable=not progress):
        image_emb.append(encoder.encode_image(images[i:i + 64]))
    unique = sorted(set(labels))
    table = F.normalize(encoder.encode_text(unique).float(), dim=-1)
    text_emb = table[[unique.index(l) for l in labels]]
    return RenderedSet(windows, F.normalize(torch.cat(image_emb).float(), dim=-1), text_emb, labels)


def _weights(meta: CheckpointMeta, cfg: FinetuneConfig) -> LossWeights:
    trained = meta.extra.get("train_config", {}).get("losses")
    w = LossWeights.from_dict(trained) if isinstance(trained, dict) else LossWeights()
    w.image = cfg.image_weight if cfg.image_weight is not None else (w.image or 0.1)
    if cfg.text_weight is not None:
        w.text = cfg.text_weight
    return w


class _Batcher:
    def __init__(self, data: RenderedSet, to_features, heading_prob: float, seed: int):
        self.data, self.to_features, self.heading_prob = data, to_features, heading_prob
        self.rng = np.random.default_rng(seed)

    def batch(self, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        wins = [self.data.windows[i] for i in idx]
        n = max(len(w) for w in wins)
        target = torch.zeros((len(wins), n, 25, 6))
        enc_in = torch.zeros_like(target)
        mask = torch.zeros((len(wins), n), dtype=torch.bool)
        for b, w in enumerate(wins):
            # heading_prob 0 draws nothing, so evaluation never shifts the training RNG stream
            turned = w.rotated_about_z(float(self.rng.uniform(-np.pi, np.pi))) \
                if self.heading_prob > 0 and self.rng.random() < self.heading_prob else w
            target[b, :len(w)] = self.to_features(w)
            enc_in[b, :len(w)] = self.to_features(turned)
            mask[b, :len(w)] = True
        return enc_in, target, mask

    def sample(self, size: int):
        idx = self.rng.choice(len(self.data.windows), size=size, replace=len(self.data.windows) < size)
        return idx, self.batch(idx)


def _losses(net, enc_in, target, mask, text, image, w: LossWeights) -> dict[str, torch.Tensor]:
    z, pred, _ = net(enc_in, mask)
    losses = reconstruction_losses(pred, target, mask, w, net.feature_std if net.config.normalize_features else None)
    if w.text:
        losses["text"] = cosine_loss(z, text, w.text_cos_target)
    losses["image"] = cosine_loss(z, image)
    return losses


@torch.no_grad()
def evaluate(net, batcher: _Batcher, w: LossWeights) -> dict[str, float]:
    """Losses over the whole rendered set, canonical inputs (no augmentation), eval mode."""
    was_training = net.training
    net.eval()
    idx = np.arange(len(batcher.data.windows))
    enc_in, target, mask = _canonical(batcher, idx)
    d = batcher.data
    losses = _losses(net, enc_in, target, mask, d.text_emb[idx], d.image_emb[idx], w)
    out = {k: float(v) for k, v in losses.items()}
    out["total"] = float(total_loss(losses, w))
    net.train(was_training)
    return out


def _canonical(batcher: _Batcher, idx):
    saved, batcher.heading_prob = batcher.heading_prob, 0.0
    try:
        return batcher.batch(idx)
    finally:
        batcher.heading_prob = saved


def finetune(cfg: FinetuneConfig, progress: bool = True) -> dict:
    """Run (or resume) fine-tuning; returns a summary with the image loss before/after and the checkpoint path."""
    from ..model.api import MotionCLIP

    out = Path(cfg.out)
    ckpt_dir, state_path = out / CHECKPOINT_NAME, out / STATE_NAME
    resume = ckpt_dir.is_dir() and state_path.is_file()
    net, meta = load_checkpoint(ckpt_dir if resume else cfg.model)
    encoder = load_encoder(cfg.clip)
    if not encoder.supports_images:
        raise FinetuneError(f"--clip {cfg.clip!r} is not a CLIP encoder (no image side); use e.g. 'clip:ViT-B/32' "
                            "or 'clip:/path/to/ViT-B-32.pt'")
    try:
        check_encoder_matches(meta.encoder, encoder, meta.encoder_dim, what=f"checkpoint {cfg.model}")
    except EncoderMismatchError as exc:
        raise FinetuneError(
            f"cannot fine-tune against CLIP images: {exc}. Image alignment needs a model whose latent space is this "
            f"CLIP's ({encoder.name}, {encoder.dim}-d); train one with 'motionclip train' and "
            f"\"encoder\": \"{cfg.clip}\" first") from None
    torch.manual_seed(cfg.seed)
    data = build_set(cfg.renders, meta, encoder, progress)
    to_features = MotionCLIP(net, meta, encoder=encoder).features  # handles checkpoints in SMPL's frame
    batcher = _Batcher(data, to_features, cfg.heading_prob, cfg.seed)
    w = _weights(meta, cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, before = 0, None
    if resume:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        step, before = int(state["step"]), state.get("before")
        batcher.rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        if progress:
            tqdm.write(f"resuming from step {step}")
    if before is None:
        before = evaluate(net, batcher, w)
    new_meta = CheckpointMeta(**{**meta.__dict__, "extra": {**meta.extra, "finetune": {
        "base_model": str(cfg.model), "renders": str(cfg.renders), "clip": encoder.name, "lr": cfg.lr,
        "loss_weights": w.to_dict(), "frames": len(data.windows)}}})

    def checkpoint() -> None:
        new_meta.extra["finetune"]["steps"] = step
        save_checkpoint(net, new_meta, ckpt_dir)
        tmp = state_path.with_suffix(".tmp")
        torch.save({"optimizer": opt.state_dict(), "step": step, "before": before, "torch_rng": torch.get_rng_state(),
                    "rng": json.dumps(batcher.rng.bit_generator.state)}, tmp)
        os.replace(tmp, state_path)

    out.mkdir(parents=True, exist_ok=True)
    start_step, started = step, time.perf_counter()
    net.train()
    with tqdm(total=cfg.steps, initial=step, desc="fine-tuning", unit="step", disable=not progress) as bar:
        while step < cfg.steps:
            idx, (enc_in, target, mask) = batcher.sample(cfg.batch_size)
            losses = _losses(net, enc_in, target, mask, data.text_emb[idx], data.image_emb[idx], w)
            loss = total_loss(losses, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", image=f"{losses['image'].item():.4f}")
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                checkpoint()
    if step == start_step and not ckpt_dir.is_dir():
        checkpoint()  # steps <= 0: still leave a loadable checkpoint
    after = evaluate(net, batcher, w)
    elapsed = time.perf_counter() - started
    summary = {"checkpoint": str(ckpt_dir), "start_step": start_step, "step": step, "before": before, "after": after,
               "seconds": round(elapsed, 3), "steps_per_second": (step - start_step) / elapsed if elapsed > 0 else 0.0,
               "encoder": encoder.name, "frames": len(data.windows)}
    tmp = out / "finetune_summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    os.replace(tmp, out / "finetune_summary.json")
    return summary
