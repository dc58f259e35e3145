"""CMU mocap -> training windows: prompts from descriptions, a subject split, a cached import,
mirror, heading and skeleton-convention augmentation.

The split is by subject (no subject's motion appears in two splits) and lives in
``assets/data_split.json``. The imported motions are cached as ``.npz`` per trial under a cache
directory (default ``<repo>/cache/cmu``), built on first use with a progress bar.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .augment import jitter_rest_frames
from .motion import Motion
from .paths import assets_dir
from .skeleton import JOINT_INDEX

_LEFT_RIGHT = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def clean_prompt(description: str) -> str:
    """'playground - climb, sit' -> 'playground, climb, sit'; 'run/jog' -> 'run or jog'."""
    text = description.strip().lower()
    text = re.sub(r"\s+-\s+", ", ", text)
    text = re.sub(r"(?<=[a-z])/(?=[a-z])", " or ", text)
    text = re.sub(r"\s+", " ", text)
    return text.strip(" ,.")


def mirror_prompt(prompt: str) -> str:
    """Swap 'left' and 'right' (mirror augmentation flips the motion, so the words must follow)."""
    return _LEFT_RIGHT.sub(lambda m: {"left": "right", "right": "left"}[m.group(1).lower()], prompt)


def facing_angle(motion: Motion) -> np.ndarray:
    """Per-frame heading (radians about +Z) of the body: 0 when facing -Y, from hips and shoulders."""
    pos = motion.joint_positions()
    across = (pos[:, JOINT_INDEX["left_hip"]] - pos[:, JOINT_INDEX["right_hip"]]
              + pos[:, JOINT_INDEX["left_shoulder"]] - pos[:, JOINT_INDEX["right_shoulder"]])
    # forward = left x up; with up = +Z that is (left_y, -left_x)
    fx, fy = across[:, 1], -across[:, 0]
    return np.arctan2(fx, -fy)


def load_split(path: Path | None = None) -> dict[str, list[int]]:
    path = path or assets_dir() / "data_split.json"
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {k: [int(s) for s in data[k]] for k in ("train", "val", "test")}


@dataclass
class Clip:
    trial: str
    prompt: str
    motion: Motion


def load_clips(data_dir: str | Path, subjects: list[int] | None = None, fps: float = 30.0,
               cache_dir: str | Path | None = None, progress: bool = True) -> list[Clip]:
    """Import the CMU trials (of the given subjects) as Motions at ``fps``, using the cache."""
    from .mocap import read_motion

    data_dir = Path(data_dir)
    index_path = data_dir / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path}: no CMU index (pass the data directory, e.g. ../shared/data/cmu)")
    trials = json.loads(index_path.read_text(encoding="utf-8"))["trials"]
    if subjects is not None:
        trials = [t for t in trials if int(t["subject"]) in set(subjects)]
    cache = Path(cache_dir) if cache_dir else Path(__file__).resolve().parents[2] / "cache" / "cmu"
    cache.mkdir(parents=True, exist_ok=True)
    version = importer_version()
    clips = []
    for t in tqdm(trials, desc="importing mocap", unit="trial", disable=not progress):
        cached = cache / f"{t['id']}_{fps:g}fps_{version}.npz"
        if cached.is_file():
            motion = Motion.load_npz(cached)
        else:
            motion = read_motion(data_dir / t["file"], fps=fps)
            motion.save_npz(cached)
        clips.append(Clip(t["id"], clean_prompt(t["description"]), motion))
    return clips


def importer_version() -> str:
    """Short hash of the importer's source: a changed importer never reuses a stale cache."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("mocap.py", "asf_amc.py", "joint_maps.py", "bvh.py", "skeleton.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:10]


def canonical_window(motion: Motion) -> Motion:
    """First frame's pelvis over the origin, facing -Y (the model's input convention)."""
    angle = float(facing_angle(motion[0:1])[0])
    out = motion.rotated_about_z(-angle)
    out.translation[:, :2] -= out.translation[:1, :2]
    return out


class WindowSampler:
    """Draws random fixed- or variable-length windows from clips, with augmentation.

    Returns the canonical window as the decoder's target and, for the encoder, the same window
    turned to a random heading and, with ``rest_jitter_prob``, with its joints' rest frames turned as
    another mocap conversion would have them (``augment.py``): the encoder learns latents that do not
    depend on heading or skeleton convention while the decoder keeps producing canonical motion.

    ``centre_short_trials``: a trial up to twice the window long is one action (CMU's jumps, runs, hops);
    its window is taken from the middle (jittered by a tenth of a window) instead of anywhere, so that
    the action happens at the same time in every window of it and decoding a prompt reproduces it
    instead of the average over all its phases (which washes a jump's flight out)."""

    def __init__(self, clips: list[Clip], frames: int = 60, min_frames: int | None = None,
                 mirror_prob: float = 0.5, heading_prob: float = 0.5, seed: int = 0, balance: str = "trial",
                 rest_jitter_deg: float = 0.0, rest_jitter_prob: float = 0.0, centre_short_trials: bool = False,
                 rest_twist_deg: float = 0.0):
        usable = [c for c in clips if len(c.motion) >= (min_frames or frames)]
        if not usable:
            raise ValueError(f"no clip has at least {min_frames or frames} frames")
        if balance not in ("trial", "frame"):
            raise ValueError(f"balance must be 'trial' or 'frame', got {balance!r}")
        self.clips = usable
        self.frames = frames
        self.min_frames = min_frames or frames
        self.mirror_prob = mirror_prob
        self.heading_prob = heading_prob
        self.rest_jitter_deg = rest_jitter_deg
        self.rest_jitter_prob = rest_jitter_prob
        self.rest_twist_deg = rest_twist_deg
        self.centre_short_trials = centre_short_trials
        self.rng = np.random.default_rng(seed)
        # "trial": every trial equally likely. A description labels a whole trial, so weighting by length
        # would let a few long trials (CMU's playground takes half the frames) dominate the text alignment
        # while short ones (every CMU run is about a second) barely appear. "frame": every frame equally likely.
        lengths = np.array([len(c.motion) for c in usable], dtype=np.float64)
        self.weights = np.full(len(usable), 1.0 / len(usable)) if balance == "trial" else lengths / lengths.sum()

    def _length(self, clip_frames: int) -> int:
        """Full-length windows where the clip allows (mostly), else a random length down to min_frames."""
        if self.min_frames == self.frames:
            return self.frames
        if clip_frames >= self.frames and self.rng.random() < 0.75:
            return self.frames
        return int(self.rng.integers(self.min_frames, min(self.frames, clip_frames) + 1))

    def _window(self, clip_frames: int) -> tuple[int, int]:
        """-> (start, length) of the next window in a clip of ``clip_frames`` frames."""
        if self.centre_short_trials and clip_frames <= 2 * self.frames:
            length = min(self.frames, clip_frames)
            slack = clip_frames - length
            jitter = int(self.rng.integers(-(self.frames // 10), self.frames // 10 + 1))
            return int(np.clip(slack // 2 + jitter, 0, slack)), length
        length = self._length(clip_frames)
        return int(self.rng.integers(0, clip_frames - length + 1)), length

    def prompts(self) -> list[str]:
        names = {c.prompt for c in self.clips}
        return sorted(names | {mirror_prompt(p) for p in names})

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
        """-> encoder input (B, T, 25, 6), target (B, T, 25, 6), mask (B, T), prompts."""
        enc_in = torch.zeros((batch, self.frames, 25, 6))
        target = torch.zeros((batch, self.frames, 25, 6))
        mask = torch.zeros((batch, self.frames), dtype=torch.bool)
        prompts = []
        for b in range(batch):
            clip = self.clips[self.rng.choice(len(self.clips), p=self.weights)]
            start, length = self._window(len(clip.motion))
            window = clip.motion[start:start + length]
            prompt = clip.prompt
            if self.rng.random() < self.mirror_prob:
                window, prompt = window.mirrored(), mirror_prompt(prompt)
            window = canonical_window(window)
            turned = window.rotated_about_z(float(self.rng.uniform(-math.pi, math.pi))) \
                if self.rng.random() < self.heading_prob else window
            if self.rng.random() < self.rest_jitter_prob:
                turned = jitter_rest_frames(turned, self.rest_jitter_deg, self.rng, self.rest_twist_deg)
            target[b, :length] = window.to_features()
            enc_in[b, :length] = turned.to_features()
            mask[b, :length] = True
            prompts.append(prompt)
        return enc_in, target, mask, prompts


def fixed_windows(clips: list[Clip], frames: int = 60, stride: int | None = None,
                  min_frames: int | None = None) -> list[Clip]:
    """Deterministic, canonical windows for evaluation (no augmentation). Clips shorter than ``frames``
    but at least ``min_frames`` long give one window of their own length."""
    stride = stride or frames
    out = []
    for c in clips:
        n = len(c.motion)
        if n < frames and min_frames and n >= min_frames:
            out.append(Clip(f"{c.trial}@0", c.prompt, canonical_window(c.motion)))
        for s in range(0, n - frames + 1, stride):
            out.append(Clip(f"{c.trial}@{s}", c.prompt, canonical_window(c.motion[s:s + frames])))
    return out


def pad_batch(motions: list[Motion], frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (B, T, 25, 6) zero-padded to the longest (or ``frames``) and the mask of real frames."""
    lengths = torch.tensor([len(m) for m in motions])
    frames = frames or int(lengths.max())
    feats = torch.zeros((len(motions), frames, 25, 6))
    for i, m in enumerate(motions):
        feats[i, : len(m)] = m.to_features()
    return feats, torch.arange(frames)[None] < lengths[:, None]
