"""Mocap trials -> training windows: a cached import, window placement (middles of short actions, foot
strikes of gaits), text sampling, mirror, heading and skeleton-convention augmentation.

Which trials exist and which split they belong to is ``corpus.py``'s job. The imported motions are cached
as ``.npz`` per trial under ``<cache>/<corpus>/`` (default ``<repo>/cache``), keyed by the importer's source.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import InputError
from .augment import curve_path, jitter_rest_frames
from .corpus import Trial, mirror_prompt
from ..motion.motion import Motion
from ..motion.skeleton import JOINT_INDEX


@dataclass
class Clip:
    trial: str
    prompt: str
    motion: Motion
    texts: tuple[str, ...] = ()  # what it trains with (the prompt first); empty = the prompt only
    periodic: bool = False  # a gait: windows start at foot strikes
    family: str | None = None  # its action family (``corpus``), None when no family's pattern matched

    def __post_init__(self):
        if not self.texts:
            self.texts = (self.prompt,)


def load_clips(trials: list[Trial], fps: float = 30.0, cache_dir: str | Path | None = None,
               progress: bool = True) -> list[Clip]:
    """Import trials (``corpus.split_trials``) as Motions at ``fps``, through a per-trial cache."""
    from ..io.mocap import read_motion

    root = Path(cache_dir) if cache_dir else Path(__file__).resolve().parents[2] / "cache"
    version = importer_version()
    clips = []
    for t in tqdm(trials, desc="importing mocap", unit="trial", disable=not progress):
        cache = root / t.corpus
        cache.mkdir(parents=True, exist_ok=True)
        cached = cache / f"{t.id}_{fps:g}fps_{version}.npz"
        if cached.is_file():
            motion = Motion.load_npz(cached)
        else:
            motion = read_motion(t.path, fps=fps, asf=t.asf, source_fps=t.fps if t.asf else None)
            motion.save_npz(cached)
        clips.append(Clip(f"{t.corpus}:{t.id}" if t.corpus != "cmu" else t.id, t.prompt, motion, t.texts,
                          t.periodic, t.family))
    return clips


def importer_version() -> str:
    """Short hash of the importer's source: a changed importer never reuses a stale cache."""
    from ..io import asf_amc, bvh, mocap, reference_pose
    from ..motion import skeleton
    from ..rig import bone_names

    h = hashlib.sha256()
    for module in (mocap, asf_amc, bone_names, bvh, skeleton, reference_pose):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:10]


def foot_strikes(motion: Motion, side: str, lift: float = 0.04) -> np.ndarray:
    """Frames where the ``side`` ('left'/'right') foot touches down after having been lifted: the ankle
    comes within ``lift`` metres of its lowest height in the clip, having been above twice that since
    its last touchdown (the gap is hysteresis, so noise at the floor gives no extra strikes)."""
    z = motion.joint_positions()[:, JOINT_INDEX[f"{side}_ankle"], 2]
    floor = float(np.percentile(z, 5))
    strikes, lifted = [], False
    for i, h in enumerate(z - floor):
        if h > 2 * lift:
            lifted = True
        elif h < lift and lifted:
            strikes.append(i)
            lifted = False
    return np.array(strikes, dtype=np.int64)


BALANCES = ("trial", "frame", "mixed", "family")


class WindowSampler:
    """Draws random fixed- or variable-length windows from clips, with augmentation.

    Returns the canonical window as the decoder's target and, for the encoder, the same window
    turned to a random heading and, with ``rest_jitter_prob``, with its joints' rest frames turned as
    another mocap conversion would have them (``augment.py``): the encoder learns latents that do not
    depend on heading or skeleton convention while the decoder keeps producing canonical motion.

    ``centre_short_trials``: a trial up to twice the window long is one action (CMU's jumps, runs, hops);
    its window is taken from the middle (jittered by a tenth of a window) instead of anywhere, so that
    the action happens at the same time in every window of it and decoding a prompt reproduces it
    instead of the average over all its phases (which washes a jump's flight out).

    ``phase_align``: the same for gaits (``Clip.periodic``): windows start at a left-foot strike, so every
    walk window is in step with every other. ``vary_text``: each window's text is drawn from the clip's
    texts (its description and its family's everyday phrasings) instead of always the description."""

    def __init__(self, clips: list[Clip], frames: int = 60, min_frames: int | None = None,
                 mirror_prob: float = 0.5, heading_prob: float = 0.5, seed: int = 0, balance: str = "trial",
                 rest_jitter_deg: float = 0.0, rest_jitter_prob: float = 0.0, centre_short_trials: bool = False,
                 rest_twist_deg: float = 0.0, phase_align: bool = False, vary_text: bool = False,
                 curve_prob: float = 0.0, curve_max_deg_s: float = 0.0):
        usable = [c for c in clips if len(c.motion) >= (min_frames or frames)]
        if not usable:
            raise InputError(f"no clip has at least {min_frames or frames} frames")
        if balance not in BALANCES:
            raise InputError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
        self.clips = usable
        self.frames = frames
        self.min_frames = min_frames or frames
        self.mirror_prob = mirror_prob
        self.heading_prob = heading_prob
        self.rest_jitter_deg = rest_jitter_deg
        self.rest_jitter_prob = rest_jitter_prob
        self.rest_twist_deg = rest_twist_deg
        self.centre_short_trials = centre_short_trials
        self.phase_align = phase_align
        self.vary_text = vary_text
        self.curve_prob = curve_prob
        self.curve_max_deg_s = curve_max_deg_s
        self._strike_cache: dict[tuple[str, str], np.ndarray] = {}
        self.rng = np.random.default_rng(seed)
        # "trial": every trial equally likely. A description labels a whole trial, so weighting by length
        # would let a few long trials (CMU's playground takes half the frames) dominate the text alignment
        # while short ones (every CMU run is about a second) barely appear. "frame": every frame equally likely.
        # "mixed": half of each, so long varied takes (salsa, playground) are no longer seen a few frames per
        # hundred while every short trial keeps at least half its "trial" share (measured: "trial" left
        # fixed windows of the training takes at 3x the sampler's own loss). "family": every action family
        # equally likely (a trial without one is its own), trials equally within it: punches and throws (a few
        # trials each) are seen as often as walks (dozens), which "trial" starved (a capacity probe decoded
        # punches at 2.8 m/s wrist peaks after 100 steps on punches alone, the trained model at 0.5).
        lengths = np.array([len(c.motion) for c in usable], dtype=np.float64)
        by_trial, by_frame = np.full(len(usable), 1.0 / len(usable)), lengths / lengths.sum()
        groups = [c.family or f"trial:{c.trial}" for c in usable]
        sizes = {g: groups.count(g) for g in set(groups)}
        by_family = np.array([1.0 / (len(sizes) * sizes[g]) for g in groups])
        self.weights = {"trial": by_trial, "frame": by_frame, "mixed": 0.5 * (by_trial + by_frame),
                        "family": by_family}[balance]

    def _length(self, clip_frames: int) -> int:
        """Full-length windows where the clip allows (mostly), else a random length down to min_frames."""
        if self.min_frames == self.frames:
            return self.frames
        if clip_frames >= self.frames and self.rng.random() < 0.75:
            return self.frames
        return int(self.rng.integers(self.min_frames, min(self.frames, clip_frames) + 1))

    def _window(self, clip: Clip, lead: str) -> tuple[int, int]:
        """-> (start, length) of the next window of ``clip``; ``lead`` ('left'/'right') is the foot whose
        strikes start a gait's windows (the left foot after any mirroring)."""
        clip_frames = len(clip.motion)
        if self.centre_short_trials and clip_frames <= 2 * self.frames:
            length = min(self.frames, clip_frames)
            slack = clip_frames - length
            jitter = int(self.rng.integers(-(self.frames // 10), self.frames // 10 + 1))
            return int(np.clip(slack // 2 + jitter, 0, slack)), length
        length = self._length(clip_frames)
        if self.phase_align and clip.periodic:
            strikes = self._strikes(clip, lead)
            strikes = strikes[strikes <= clip_frames - length]
            if len(strikes):
                return int(self.rng.choice(strikes)), length
        return int(self.rng.integers(0, clip_frames - length + 1)), length

    def _strikes(self, clip: Clip, side: str) -> np.ndarray:
        key = (clip.trial, side)
        if key not in self._strike_cache:
            self._strike_cache[key] = foot_strikes(clip.motion, side)
        return self._strike_cache[key]

    def prompts(self) -> list[str]:
        names = {t for c in self.clips for t in c.texts}
        return sorted(names | {mirror_prompt(p) for p in names})

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
        """-> encoder input (B, T, 25, 6), target (B, T, 25, 6), mask (B, T), prompts."""
        enc_in = torch.zeros((batch, self.frames, 25, 6))
        target = torch.zeros((batch, self.frames, 25, 6))
        mask = torch.zeros((batch, self.frames), dtype=torch.bool)
        prompts = []
        for b in range(batch):
            clip = self.clips[self.rng.choice(len(self.clips), p=self.weights)]
            mirror = self.rng.random() < self.mirror_prob
            start, length = self._window(clip, "right" if mirror else "left")
            window = clip.motion[start:start + length]
            prompt = clip.texts[int(self.rng.integers(len(clip.texts)))] if self.vary_text else clip.prompt
            if mirror:
                window, prompt = window.mirrored(), mirror_prompt(prompt)
            window = window.canonical()
            if self.curve_prob > 0 and self.rng.random() < self.curve_prob:  # (no draw when off: old runs resume alike)
                rate = math.radians(float(self.rng.uniform(-self.curve_max_deg_s, self.curve_max_deg_s)))
                window = curve_path(window, rate)
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
            out.append(Clip(f"{c.trial}@0", c.prompt, c.motion.canonical(), family=c.family))
        for s in range(0, n - frames + 1, stride):
            out.append(Clip(f"{c.trial}@{s}", c.prompt, c.motion[s:s + frames].canonical(), family=c.family))
    return out


def pad_batch(motions: list[Motion], frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (B, T, 25, 6) zero-padded to the longest (or ``frames``) and the mask of real frames."""
    lengths = torch.tensor([len(m) for m in motions])
    frames = frames or int(lengths.max())
    feats = torch.zeros((len(motions), frames, 25, 6))
    for i, m in enumerate(motions):
        feats[i, : len(m)] = m.to_features()
    return feats, torch.arange(frames)[None] < lengths[:, None]
