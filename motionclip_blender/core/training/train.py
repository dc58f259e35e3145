"""``motionclip train``: train the auto-encoder with the paper's losses on CMU windows.

Single process on CPU or one GPU, or several through ``torchrun`` (DistributedDataParallel: each
rank samples its own windows with its own seed; rank 0 evaluates, logs and writes checkpoints).
Checkpoints are written every ``checkpoint_every`` steps to ``<out>/last`` (and on each validation
improvement to ``<out>/best``), each with the optimiser and sampler state inside, crash-safely
(``checkpoint.save_checkpoint``); rerunning the same command resumes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import InputError
from ..model.checkpoint import CheckpointMeta, load_checkpoint, recover, save_checkpoint
from ..config_io import from_dict_strict
from .corpus import DEFAULT_DATA_ROOT, load_split, split_trials
from .dataset import WindowSampler, fixed_windows, load_clips, pad_batch
from ..model.encoders import load_encoder
from .losses import LossWeights, cosine_loss, reconstruction_losses, total_loss
from ..model.network import ModelConfig, MotionCLIPModel


@dataclass
class TrainConfig:
    data_root: str = DEFAULT_DATA_ROOT
    corpora: list[str] = field(default_factory=lambda: ["cmu", "hdm05"])
    split_file: str | None = None  # None = assets/data_split.json
    out_dir: str = "runs/bundled"
    cache_dir: str | None = None
    encoder: str = "minilm"
    fps: float = 30.0
    frames: int = 60
    min_frames: int | None = None  # < frames: variable-length windows with padding masks
    balance: str = "trial"  # trials uniformly ("trial"), by their length ("frame") or half of each ("mixed")
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    batch_size: int = 32
    lr: float = 1e-4
    lr_schedule: str = "constant"  # after warm-up: "constant", or "cosine" down to min_lr_ratio * lr at `steps`
    min_lr_ratio: float = 0.1
    init_from: str | None = None  # a checkpoint whose weights start a new run (e.g. the bundled model)
    weight_decay: float = 0.01
    warmup_steps: int = 200
    steps: int = 6000
    eval_every: int = 250
    checkpoint_every: int = 250
    patience: int = 0  # evaluations without validation improvement before stopping; 0 = never
    mirror_prob: float = 0.5
    heading_prob: float = 0.5
    rest_jitter_deg: float = 0.0  # skeleton-convention augmentation of the encoder input (augment.py)
    rest_jitter_prob: float = 0.0
    rest_twist_deg: float = 0.0  # and twists about the bones, which move no joint (augment.py)
    centre_short_trials: bool = False  # windows of short trials from their middle (see WindowSampler)
    phase_align: bool = False  # windows of gaits start at a foot strike (see WindowSampler)
    vary_text: bool = False  # each window's text drawn from its trial's texts (description + family phrasings)
    curve_prob: float = 0.0  # share of windows whose path is bent into an arc (augment.curve_path) ...
    curve_max_deg_s: float = 0.0  # ... turning at most this fast, either way
    stats_windows: int = 2048  # training windows the feature mean/std are estimated from (fresh runs only)
    # "all", or "encoder": the decoder (and the feature statistics) stay as init_from left them. The decoder
    # already renders the training windows (so the bank and the prompt suite) sharply; what generalises badly to
    # new performers is the encoder (its held-out latents decode at 407 mm, the best latents at about 150 mm).
    # Tried as v0.10: the encoder trained alone did not generalise better (the model card); fitting.py does.
    train_parts: str = "all"
    seed: int = 0
    threads: int = 0  # 0 = torch's default
    max_minutes: float = 0  # stop this run (with a checkpoint) after this long; 0 = no limit. Rerun to resume.

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read training config ({exc})") from None
        data.pop("comment", None)
        try:
            data["model"] = ModelConfig.from_dict(data.get("model", {}))
            data["losses"] = LossWeights.from_dict(data.get("losses", {}))
            return from_dict_strict(cls, data, "training config")
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: {exc}") from None

    def to_dict(self) -> dict:
        return asdict(self)


def make_sampler(cfg: TrainConfig, clips, seed: int) -> WindowSampler:
    """The window sampler (lengths, balance, augmentation) that ``cfg`` describes."""
    return WindowSampler(clips, cfg.frames, cfg.min_frames, cfg.mirror_prob, cfg.heading_prob, seed=seed,
                         balance=cfg.balance, rest_jitter_deg=cfg.rest_jitter_deg,
                         rest_jitter_prob=cfg.rest_jitter_prob, rest_twist_deg=cfg.rest_twist_deg,
                         centre_short_trials=cfg.centre_short_trials, phase_align=cfg.phase_align,
                         vary_text=cfg.vary_text, curve_prob=cfg.curve_prob, curve_max_deg_s=cfg.curve_max_deg_s)


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Multiplier of ``cfg.lr`` at ``step``: linear warm-up, then constant or cosine decay."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    # a Python float: a numpy scalar would reach the optimiser state, which torch.load(weights_only) refuses
    return float(cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + np.cos(np.pi * progress)))


def training_clips(cfg: TrainConfig, part: str, progress: bool = True):
    split = load_split(cfg.split_file) if cfg.split_file else load_split()
    return load_clips(split_trials(cfg.data_root, cfg.corpora, part, split), cfg.fps, cfg.cache_dir, progress)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank() if world > 1 else 0), world


def _device(rank: int) -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


class TextTable:
    """Embeddings of every training prompt, computed once (the encoder stays out of the loop)."""

    def __init__(self, encoder, prompts: list[str]):
        self.index = {p: i for i, p in enumerate(prompts)}
        self.table = F.normalize(encoder.encode_text(prompts).float(), dim=-1)

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        return self.table[[self.index[p] for p in prompts]]


def step_losses(model, enc_in, target, mask, text_emb, weights: LossWeights) -> dict[str, torch.Tensor]:
    """``model`` is the network or its DistributedDataParallel wrapper (called through forward)."""
    net = getattr(model, "module", model)
    std = net.feature_std if net.config.normalize_features else None
    z, pred, from_text = model(enc_in, mask, text_emb if weights.text_rc else None)
    losses = reconstruction_losses(pred, target, mask, weights, std)
    if weights.text:
        losses["text"] = cosine_loss(z, text_emb, weights.text_cos_target)
    if from_text is not None:
        text_terms = reconstruction_losses(from_text, target, mask, weights, std)
        losses["text_rc"] = sum(getattr(weights, k) * v for k, v in text_terms.items())
    return losses


TRAIN_PARTS = ("all", "encoder")


def freeze_untrained(net: MotionCLIPModel, parts: str) -> list[torch.nn.Parameter]:
    """The parameters a run of ``train_parts`` trains; the others stop taking gradients."""
    if parts == "encoder":
        net.decoder.requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def set_training_mode(net: MotionCLIPModel, parts: str) -> None:
    """Training mode for what is trained: a frozen decoder stays in eval mode (no dropout), so it renders
    the encoder's latents exactly as generation will."""
    net.train()
    if parts == "encoder":
        net.decoder.eval()


@torch.no_grad()
def validate(net, windows, table: TextTable, weights: LossWeights, device) -> dict[str, float]:
    modes = [m.training for m in net.modules()]
    net.eval()
    feats, mask = pad_batch([w.motion for w in windows])
    feats, mask = feats.to(device), mask.to(device)
    emb = table([w.prompt for w in windows]).to(device)
    losses = step_losses(net, feats, feats, mask, emb, weights)
    out = {k: float(v) for k, v in losses.items()}
    out["total"] = float(total_loss(losses, weights))
    for module, mode in zip(net.modules(), modes):
        module.training = mode
    return out


STATE_NAME = "train_state.pt"


def _resumable(out: Path, clean: bool = True) -> tuple[Path | None, dict | None]:
    """(checkpoint directory, training state) to continue from, or (None, None) for a fresh run.

    Interrupted saves are finished or rolled back first (``checkpoint.recover``). ``last`` is preferred; if it
    is gone, ``best`` (which carries its own state) is used, so a crash never silently restarts at step 0. A
    run directory holding weights but no state to continue from is refused rather than overwritten."""
    if clean:
        for name in ("last", "best"):
            recover(out / name)
    for name in ("last", "best"):
        d = out / name
        if not (d / "model.safetensors").is_file():
            continue
        state_file = d / STATE_NAME if (d / STATE_NAME).is_file() else out / STATE_NAME  # older runs kept it here
        if state_file.is_file():
            try:
                # numpy scalars: states written before lr_factor returned plain floats carry them
                with torch.serialization.safe_globals([np.core.multiarray.scalar, np.dtype,
                                                       type(np.dtype(np.float64))]):
                    return d, torch.load(state_file, map_location="cpu", weights_only=True)
            except Exception as exc:  # truncated/foreign: name it instead of starting over
                raise InputError(f"{state_file}: cannot read the training state ({exc})") from None
    existing = [n for n in ("last", "best") if (out / n).exists()]
    if existing:
        raise InputError(f"{out}: holds checkpoint(s) {existing} but no training state to continue from; "
                         f"move them away to start over, or start from their weights with init_from")
    return None, None


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    rank, world = _distributed()
    device = _device(rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)
    if cfg.lr_schedule not in ("constant", "cosine"):
        raise InputError(f"lr_schedule must be 'constant' or 'cosine', got {cfg.lr_schedule!r}")
    if cfg.train_parts not in TRAIN_PARTS:
        raise InputError(f"train_parts must be one of {TRAIN_PARTS}, got {cfg.train_parts!r}")
    if cfg.train_parts != "all" and not cfg.init_from:
        raise InputError(f"train_parts {cfg.train_parts!r} keeps the decoder of init_from: set init_from")
    if cfg.stats_windows < 2:
        raise InputError(f"stats_windows must be at least 2 (a standard deviation), got {cfg.stats_windows}")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_clips = training_clips(cfg, "train", progress and rank == 0)
    val_clips = training_clips(cfg, "val", progress and rank == 0)
    sampler = make_sampler(cfg, train_clips, seed=cfg.seed * 1000 + rank)
    val_windows = fixed_windows(val_clips, cfg.frames, min_frames=cfg.min_frames)
    if not val_windows:
        raise InputError(f"no validation windows: the val performers of {cfg.corpora} have no trial of at least "
                         f"{cfg.min_frames or cfg.frames} frames under {cfg.data_root}")
    encoder = load_encoder(cfg.encoder)
    if encoder.dim != cfg.model.latent_dim:
        raise InputError(f"model latent_dim {cfg.model.latent_dim} must equal the encoder's dim {encoder.dim}")
    table = TextTable(encoder, sorted(set(sampler.prompts()) | {w.prompt for w in val_windows}))
    table.table = table.table.to(device)

    meta = CheckpointMeta(model=cfg.model, encoder=encoder.name, encoder_dim=encoder.dim, fps=cfg.fps,
                          frames=cfg.frames, extra={"train_config": cfg.to_dict()})
    net = MotionCLIPModel(cfg.model).to(device)
    trained = freeze_untrained(net, cfg.train_parts)
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, since_best, elapsed_before = 0, float("inf"), 0, 0.0
    resume_from, state = _resumable(out) if rank == 0 or world == 1 else _resumable(out, clean=False)
    if resume_from is None and cfg.init_from:
        init, init_meta = load_checkpoint(cfg.init_from)
        # dropout is a training choice, not architecture: a run may continue the bundled weights with more of it
        if replace(init_meta.model, dropout=cfg.model.dropout) != cfg.model or init_meta.encoder != encoder.name:
            raise InputError(f"init_from {cfg.init_from}: its architecture or text space differs from this config")
        net.load_state_dict(init.state_dict())  # feature statistics included
        if rank == 0:
            print(f"starting from the weights of {cfg.init_from}")
    elif resume_from is None and cfg.model.normalize_features:
        # a fresh run: from unaugmented-target windows of the training data (a fixed seed)
        stats_sampler = make_sampler(cfg, train_clips, seed=12345)
        sizes = [min(256, cfg.stats_windows - start) for start in range(0, cfg.stats_windows, 256)]
        feats, stat_mask = zip(*(stats_sampler.sample(size)[1:3] for size in sizes))
        net.set_feature_stats(torch.cat(feats), torch.cat(stat_mask))
    if resume_from is not None:
        loaded, _ = load_checkpoint(resume_from)
        net.load_state_dict(loaded.state_dict())
        opt.load_state_dict(state["optimizer"])
        step, best, since_best = int(state["step"]), float(state["best"]), int(state["since_best"])
        elapsed_before = float(state.get("elapsed_s", 0.0))
        if world == 1:  # exact continuation: the same windows and dropout masks as an uninterrupted run
            sampler.rng.bit_generator.state = json.loads(state["sampler_rng"])
            if "torch_rng" in state:
                torch.set_rng_state(state["torch_rng"])
        else:  # only rank 0's state is saved: give every rank its own fresh stream for the rest of the run
            sampler.rng = np.random.default_rng([cfg.seed, rank, step])
            torch.manual_seed(cfg.seed * 1_000_003 + rank * 7919 + step)
        if rank == 0:
            print(f"resuming from {resume_from.name} at step {step} (best val {best:.4f})")
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    for group in opt.param_groups:
        group.setdefault("initial_lr", cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(cfg, s), last_epoch=step - 1 if step else -1)

    def checkpoint(name: str = "last") -> None:
        """The weights and everything needed to continue, saved together in one crash-safe step."""
        state = {"optimizer": opt.state_dict(), "step": step, "best": best, "since_best": since_best,
                 "sampler_rng": json.dumps(sampler.rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
                 "elapsed_s": elapsed_before + time.time() - started}
        save_checkpoint(net, meta, out / name, extra={STATE_NAME: lambda path: torch.save(state, path)})

    started = time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=not progress or rank != 0)
    set_training_mode(net, cfg.train_parts)
    stop = False
    while step < cfg.steps and not stop:
        enc_in, target, mask, prompts = sampler.sample(cfg.batch_size)
        enc_in, target, mask = enc_in.to(device), target.to(device), mask.to(device)
        losses = step_losses(model, enc_in, target, mask, table(prompts), cfg.losses)
        loss = total_loss(losses, cfg.losses)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        # rank 0 decides when to stop (time limit, early stop) and tells the others below, so every rank
        # leaves the loop after the same step and none waits forever in a collective
        timed_out = bool(cfg.max_minutes) and (time.time() - started) / 60 > cfg.max_minutes
        if rank == 0 and (step % cfg.eval_every == 0 or step == cfg.steps or timed_out):
            val = validate(net, val_windows, table, cfg.losses, device)
            record = {"step": step, "time_s": round(elapsed_before + time.time() - started, 1),
                      "train": {k: round(v.item(), 5) for k, v in losses.items()}, "val": val}
            with open(out / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            if val["total"] < best:
                best, since_best = val["total"], 0
                checkpoint("best")
            else:
                since_best += 1
            if cfg.patience and since_best >= cfg.patience:
                tqdm.write(f"early stop at step {step}: no val improvement in {since_best} evaluations")
                stop = True
        if rank == 0 and (step % cfg.checkpoint_every == 0 or stop or step == cfg.steps or timed_out):
            checkpoint()
        if world > 1:
            flags = torch.tensor([int(stop), int(timed_out)], device=device)
            torch.distributed.broadcast(flags, 0)
            stop, timed_out = bool(flags[0]), bool(flags[1])
        if timed_out:
            if rank == 0:
                tqdm.write(f"time limit reached at step {step}; rerun the same command to resume")
            break
    bar.close()
    if world > 1:
        torch.distributed.destroy_process_group()
    return out / "best" if (out / "best").is_dir() else out / "last"
