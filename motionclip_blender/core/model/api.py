"""The public latent-space API: text-to-motion, encoding, interpolation, editing, recognition.

    from motionclip_blender.core.model.api import load_model
    model = load_model()                      # the bundled model
    walk = model.generate("a person walks forward", frames=60)
    run = model.edit(walk, "walk", "run")     # z = E(walk) - E("walk") + E("run")
    model.recognize(run, ["walk", "run", "jump"])

Every latent handed around is a unit vector in the checkpoint's text space: text embeddings come
normalised from the encoder, motion latents are normalised here, so arithmetic mixes them fairly.
Motions are canonicalised before encoding (first frame at the origin, facing -Y) as in training.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from typing import Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, InputTypeError, MotionCLIPError
from ..motion import contact, timeline
from .bank import BANK_NAME, BankError, LatentBank
from .checkpoint import CheckpointError, CheckpointMeta, import_official, load_checkpoint
from .encoders import Encoder, EncoderError, canonical_encoder_name, check_encoder_matches, load_encoder
from .fitting import FIT_STEPS, fit_latent
from .network import convert_features
from ..motion.motion import Motion
from ..paths import model_dir
from ..motion.skeleton import SMPL_TO_BLENDER

MotionOrPrompt = Union[str, Motion]


class PromptTruncatedWarning(UserWarning):
    """A prompt longer than the text encoder reads: the rest of it has no effect."""


class ModelLoadError(MotionCLIPError, RuntimeError):
    """The model could not be loaded; the message says which file and why."""


class MotionCLIP:
    """A loaded model with its text encoder. Thread-safe for concurrent calls (one lock)."""

    def __init__(self, network, meta: CheckpointMeta, encoder: Encoder | None = None, name: str = "model",
                 bank: LatentBank | None = None):
        self.network = network.eval()
        self.bank = bank
        self._bank_text_z: tuple[LatentBank, torch.Tensor] | None = None  # (bank, its windows' text embeddings)
        self.meta = meta
        self.name = name
        self._encoder = encoder
        self._lock = threading.RLock()
        if encoder is not None:
            check_encoder_matches(meta.encoder, encoder, meta.encoder_dim, what=f"model '{name}'")

    # --- properties -----------------------------------------------------------------------------
    @property
    def fps(self) -> float:
        return self.meta.fps

    @property
    def frames(self) -> int:
        return self.meta.frames

    @property
    def max_frames(self) -> int:
        """The longest clip the decoder makes in one pass (its positional table), in frames at ``fps``."""
        return int(self.network.config.max_frames)

    @property
    def fingerprint(self) -> str:
        """A digest of the weights and text space: latents cached under it never outlive the model."""
        if getattr(self, "_fingerprint", None) is None:
            h = hashlib.sha256(self.meta.encoder.encode("utf-8"))
            for name, tensor in sorted(self.network.state_dict().items()):
                h.update(name.encode("utf-8"))
                h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    @property
    def encoder_name(self) -> str:
        return self.meta.encoder

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            enc = load_encoder(canonical_encoder_name(self.meta.encoder))
            check_encoder_matches(self.meta.encoder, enc, self.meta.encoder_dim, what=f"model '{self.name}'")
            self._encoder = enc
        return self._encoder

    # --- conversion between Motion and features -------------------------------------------------
    def features(self, motion: Motion) -> torch.Tensor:
        """(F, 25, 6) network features of ``motion`` in the checkpoint's own frame (Blender's or SMPL's)."""
        feats = motion.to_features()
        if self.meta.feature_frame == "smpl":
            feats = convert_features(feats, torch.from_numpy(SMPL_TO_BLENDER.T.astype(np.float32)))
        return feats

    def _blender_frame(self, feats: torch.Tensor) -> torch.Tensor:
        """Decoded features in Blender's frame (legacy checkpoints decode in SMPL's axes); differentiable."""
        if self.meta.feature_frame == "smpl":
            feats = convert_features(feats, torch.from_numpy(SMPL_TO_BLENDER.astype(np.float32)))
        return feats

    def _motion(self, feats: torch.Tensor) -> Motion:
        return Motion.from_features(self._blender_frame(feats), self.fps)

    def _window_batch(self, windows: Sequence[Motion]) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical windows (at the model's fps, up to its length) as model features, zero-padded, and their mask."""
        feats = [self.features(m.canonical()) for m in windows]
        lengths = torch.tensor([len(x) for x in feats])
        batch = torch.zeros((len(feats), int(lengths.max()), 25, 6))
        for i, x in enumerate(feats):
            batch[i, : len(x)] = x
        return batch, torch.arange(batch.shape[1])[None] < lengths[:, None]

    # --- latents --------------------------------------------------------------------------------
    def text_latent(self, prompts: Sequence[str]) -> torch.Tensor:
        """Unit text embeddings. A prompt longer than the encoder reads is cut there, with a
        :class:`PromptTruncatedWarning`; control characters (a NUL would end the prompt in Blender) are refused."""
        prompts = [p.strip() if isinstance(p, str) else p for p in prompts]
        for p in prompts:
            if not isinstance(p, str) or not p:
                raise InputError("prompt must be a non-empty string")
            bad = sorted({repr(c) for c in p if (ord(c) < 32 and c not in "\t\n\r") or c == "\x7f"})
            if bad:
                raise InputError(f"prompt {p[:40]!r} contains control characters ({', '.join(bad)}); remove them")
            overflow = self.encoder.token_overflow(p)
            if overflow:
                warnings.warn(PromptTruncatedWarning(
                    f"prompt {p[:40] + '…' if len(p) > 40 else p!r} is {overflow[0]} tokens long; the text encoder "
                    f"reads only the first {overflow[1]}"), stacklevel=2)
        return F.normalize(self.encoder.encode_text(list(prompts)).float(), dim=-1)

    @torch.no_grad()
    def encode(self, motion: Motion) -> torch.Tensor:
        """Unit latent (latent_dim,) of a motion. Longer clips are encoded in overlapping windows of
        the training length whose latents are averaged."""
        if not isinstance(motion, Motion):
            raise InputTypeError(f"encode expects a Motion, got {type(motion).__name__}")
        if len(motion) == 0:
            raise InputError("cannot encode a motion with no frames")
        motion = motion.at_fps(self.fps)
        n, w = len(motion), self.frames
        starts = [0] if n <= w else list(range(0, n - w + 1, max(1, w // 2)))
        if n > w and starts[-1] != n - w:
            starts.append(n - w)
        z = self.encode_windows([motion[s:s + w] for s in starts])
        return F.normalize(z.mean(0), dim=0)

    @torch.no_grad()
    def encode_windows(self, windows: Sequence[Motion]) -> torch.Tensor:
        """Unit latents (N, latent_dim) of motions at the model's fps and up to its length, one each."""
        batch, mask = self._window_batch(windows)
        with self._lock:
            z = self.network.encode(batch, mask)
        return F.normalize(z, dim=-1)

    def latent(self, item: MotionOrPrompt) -> torch.Tensor:
        if isinstance(item, str):
            return self.text_latent([item])[0]
        if isinstance(item, Motion):
            return self.encode(item)
        if torch.is_tensor(item):
            return F.normalize(item.float().flatten(), dim=0)
        raise InputTypeError(f"expected a prompt, a Motion or a latent tensor, got {type(item).__name__}")

    @torch.no_grad()
    def decode(self, z: torch.Tensor, frames: int | None = None) -> Motion:
        frames = self._check_frames(self.frames if frames is None else int(frames))
        z = torch.as_tensor(z, dtype=torch.float32).reshape(1, -1)
        if z.shape[1] != self.meta.encoder_dim:
            raise InputError(f"latent must have {self.meta.encoder_dim} numbers, got {z.shape[1]}")
        with self._lock:
            feats = self.network.decode(z, frames)[0]
        return self._motion(feats)

    # --- the operations -------------------------------------------------------------------------
    def generate(self, prompt: str, frames: int | None = None, seed: int | None = None,
                 variation: float = 0.25, source: str = "auto", clean_feet: bool = True, loop: bool = False,
                 root: str = "full", keys: Mapping[int, Motion] | None = None, key_root: bool = False) -> Motion:
        """Text to motion, ``frames`` long (default: the model's clip length; any length up to its limit).

        ``source`` "bank" (the default when the model has a latent bank, ``bank.py``): decode the latent of
        the training window nearest to the prompt, and for longer clips its successors in the same
        performance; a seed picks another take nearly as near (``LatentBank.pick``: other performances first,
        consecutive seeds different takes, none the seed-None one unless nothing else is near). "text":
        decode the prompt's embedding itself (the paper's way); a seed adds a perturbation of relative size
        ``variation``. Past what the windows cover, cycles repeat and one-off actions settle into a hold
        (``timeline.py``). ``clean_feet``: planted contacts, nothing under the floor (``contact.py``).
        ``loop``: a seamless cycle (cut near ``frames``). ``root``: "full", "forward" or "in_place".
        ``keys``: {frame index: one-frame Motion} the result passes through exactly (local rotations; the root
        position too with ``key_root``), see ``keys.py``; with keys the prompt may be empty (in-betweening)."""
        if source not in ("auto", "bank", "text"):
            raise InputError(f"source must be 'auto', 'bank' or 'text', got {source!r}")
        if keys is not None:
            if loop:
                raise InputError("keys and loop cannot be combined: closing the loop would move the keyed poses")
            if not isinstance(prompt, str):
                raise InputError("prompt must be a string (it may be empty with keys)")
            if root not in timeline.ROOT_MODES:
                raise InputError(f"root must be one of {', '.join(timeline.ROOT_MODES)}, got {root!r}")
            from .keys import generate_with_keys

            return generate_with_keys(self, prompt.strip(), self._check_frames(frames), keys, seed=seed,
                                      variation=variation, source=source, clean_feet=clean_feet, key_root=key_root,
                                      root=root)
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("prompt must be a non-empty string")
        if source == "bank" and self.bank is None:
            raise InputError(f"model '{self.name}' has no latent bank ({BANK_NAME}); use source='text'")
        frames = self._check_frames(frames)
        z = self.text_latent([prompt])[0]
        if self.bank is not None and source != "text":
            motion = self._from_bank(self.bank_pick(z, seed, prompt), frames)
        else:
            motion = self._decode_any(perturb(z, seed, variation) if seed is not None else z, frames)
        return self.finish(motion, clean_feet, loop, root)

    def decode_clip(self, z: torch.Tensor, frames: int | None = None, clean_feet: bool = True, loop: bool = False,
                    root: str = "full") -> Motion:
        """A latent to a finished clip of any length: decoded, continued past the model's length, cleaned."""
        return self.finish(self._decode_any(z, frames), clean_feet, loop, root)

    def motion_latent(self, item: MotionOrPrompt, fit_steps: int = FIT_STEPS) -> torch.Tensor:
        """The latent of the motion ``item`` stands for: for a prompt, the one ``generate`` decodes (its
        nearest bank window when the model has a bank, else its text embedding); for a Motion, its latent
        refined to decode back to it (``fitting.fit_latent``: the encoder's alone decodes far from new performers)."""
        if isinstance(item, Motion):
            return fit_latent(self, item, fit_steps)
        z = self.latent(item)
        if isinstance(item, str) and self.bank is not None:
            z = self.bank.code(self.bank_pick(z, None, item))
        return z

    def bank_pick(self, text_z: torch.Tensor, seed: int | None, prompt: str = "") -> int:
        """The bank window a prompt's embedding ``text_z`` decodes (``LatentBank.pick``), ranked by the latents,
        by each window's own training text and, when ``prompt`` names a direction of travel or a jump, by how
        well each window goes that way (``travel.py``) or gets both feet up (``flight.py``)."""
        bank = self.bank
        with self._lock:
            if self._bank_text_z is None or self._bank_text_z[0] is not bank:
                names = sorted(set(bank.texts))
                row = {name: i for i, name in enumerate(names)}
                self._bank_text_z = (bank, self.text_latent(names)[[row[t] for t in bank.texts]])
            window_text_z = self._bank_text_z[1]
        return bank.pick(text_z, seed, text_scores=window_text_z @ F.normalize(text_z.float(), dim=0),
                         travel_scores=bank.travel_fit(prompt), flight_scores=bank.flight_fit(prompt))[0]

    def _decode_any(self, z: torch.Tensor, frames: int | None) -> Motion:
        """Decode up to the model's clip length and continue past it (``timeline.extend``)."""
        frames = self._check_frames(frames)
        return timeline.extend(self.decode(z, min(frames, self.frames)), frames)

    def generate_sequence(self, prompt: str | Sequence[str], seconds: float | None = None, transition: int = 10,
                          seed: int | None = None, clean_feet: bool = True, root: str = "full"):
        """"walk forward (2 s), then jump, then wave" -> (Motion, [Segment(text, start, end)]): each part
        generated, placed where the previous one leads and cross-faded into it (``sequence.py``)."""
        from .sequence import generate_sequence

        return generate_sequence(self, list(prompt) if not isinstance(prompt, str) else prompt, seconds,
                                 transition, seed, clean_feet, root)

    def finish(self, motion: Motion, clean_feet: bool = True, loop: bool = False, root: str = "full") -> Motion:
        """The post-processing every generated motion gets: foot clean-up, then a loop or a root option."""
        if root not in timeline.ROOT_MODES:
            raise InputError(f"root must be one of {', '.join(timeline.ROOT_MODES)}, got {root!r}")
        if clean_feet:
            motion = contact.clean_feet(motion)
        return timeline.make_loop(motion, root) if loop else timeline.with_root(motion, root)

    def _from_bank(self, index: int, frames: int) -> Motion:
        first = self.decode(self.bank.code(index), min(frames, self.frames))
        if frames > len(first) and timeline.find_cycle(first):
            # a gait keeps its pace: repeat its cycle rather than follow the take into a stop or a turn
            return timeline.extend(first, frames)
        windows, covered = [first], len(first)
        while covered < frames:
            index = self.bank.successor(index)
            if index is None:
                break
            windows.append(self.decode(self.bank.code(index), self.frames))
            covered += self.bank.stride
        return timeline.extend(timeline.stitch(windows, self.bank.stride), frames)

    def _check_frames(self, frames: int | None) -> int:
        frames = self.frames if frames is None else frames
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
            raise InputError(f"frames must be a whole number, got {frames!r}")
        if frames < 1:
            raise InputError(f"frames must be at least 1, got {frames}")
        if frames > self.max_frames:
            raise InputError(f"frames must be at most {self.max_frames}, got {frames}")
        return int(frames)

    def interpolate(self, a: MotionOrPrompt, b: MotionOrPrompt, steps: int, frames: int | None = None,
                    clean_feet: bool = True) -> list[Motion]:
        """``steps`` motions decoded along the straight line from E(a) to E(b), both ends included (a prompt's
        end is the motion ``generate`` makes of it)."""
        if steps < 2:
            raise InputError(f"steps must be at least 2, got {steps}")
        za, zb = self.motion_latent(a), self.motion_latent(b)
        return [self.finish(self._decode_any(mix_latents(za, zb, float(t)), frames), clean_feet)
                for t in torch.linspace(0, 1, steps)]

    def edit(self, base: MotionOrPrompt, minus: MotionOrPrompt, plus: MotionOrPrompt,
             frames: int | None = None, clean_feet: bool = True) -> Motion:
        """Latent arithmetic z = E(base) - E(minus) + E(plus), decoded (a prompt as ``base`` stands for the
        motion ``generate`` makes of it; ``minus`` and ``plus`` are directions, their embeddings)."""
        if frames is None and isinstance(base, Motion):
            frames = len(base.at_fps(self.fps))
            if frames > self.max_frames:  # said before the base's latent is fitted, not after
                raise InputError(f"the base clip is {frames} frames at {self.fps:g} fps, longer than the "
                                 f"{self.max_frames} this model decodes: ask for fewer frames (CLI: --frames or "
                                 f"--seconds)")
        frames = self._check_frames(frames)
        z = self.motion_latent(base) - self.latent(minus) + self.latent(plus)
        return self.finish(self._decode_any(z, frames), clean_feet)

    def match(self, motion: Motion, target: MotionOrPrompt) -> float:
        """How well ``motion`` matches a prompt (or another motion): cosine of their latents."""
        return float(self.encode(motion) @ self.latent(target))

    def variations(self, prompt: str, count: int, first_seed: int = 1, frames: int | None = None,
                   **options) -> list[tuple[int, Motion, float]]:
        """``count`` seeded takes of ``prompt`` (seed k equals ``generate(prompt, seed=k)``), best match first:
        [(seed, motion, cosine to the prompt)]."""
        if count < 1:
            raise InputError(f"count must be at least 1, got {count}")
        takes = [(s, self.generate(prompt, frames=frames, seed=s, **options)) for s in range(first_seed, first_seed + count)]
        scored = [(s, m, self.match(m, prompt)) for s, m in takes]
        return sorted(scored, key=lambda t: -t[2])

    def recognize(self, motion: Motion, labels: Sequence[str], top_k: int = 5) -> list[tuple[str, float]]:
        """Zero-shot recognition: labels ranked by cosine between E(motion) and their text embeddings."""
        if isinstance(labels, str):
            raise InputTypeError(f"labels must be a list of texts, got the single text {labels!r} "
                                 f"(write [{labels!r}] to score just that one)")
        labels = [str(l).strip() for l in labels if str(l).strip()]
        if not labels:
            raise InputError("recognize needs at least one non-empty label")
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        scores = self.text_latent(labels) @ self.encode(motion)
        order = torch.argsort(scores, descending=True)[:top_k]
        return [(labels[i], float(scores[i])) for i in order]


def mix_latents(za: torch.Tensor, zb: torch.Tensor, alpha: float) -> torch.Tensor:
    return (1 - alpha) * za + alpha * zb


def perturb(z: torch.Tensor, seed: int, variation: float) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(seed))
    noise = F.normalize(torch.randn(z.shape, generator=gen), dim=-1)
    return F.normalize(z + variation * noise * z.norm(), dim=-1)


def load_model(path: str | os.PathLike | None = None, encoder: Encoder | str | None = None,
               official: bool = False) -> MotionCLIP:
    """Load a checkpoint directory (None = the bundled model), or with ``official=True`` a checkpoint of
    the paper's code (with CLIP ViT-B/32 unless ``encoder`` says otherwise)."""
    target = model_dir() if path is None else path
    try:
        if official:
            network, meta = import_official(target)
        else:
            network, meta = load_checkpoint(target)
    except CheckpointError as exc:
        hint = " (the bundled model is missing: reinstall the add-on)" if path is None else ""
        raise ModelLoadError(f"{exc}{hint}") from None
    if isinstance(encoder, str):
        try:
            encoder = load_encoder(encoder)
        except EncoderError as exc:
            raise ModelLoadError(str(exc)) from None
    name = "bundled" if path is None else os.path.basename(os.path.normpath(str(target)))
    try:
        bank = None if official else LatentBank.load(target)
    except BankError as exc:
        raise ModelLoadError(str(exc)) from None
    if bank is not None and bank.latents.shape[1] != meta.encoder_dim:
        raise ModelLoadError(f"{target}: the latent bank has {bank.latents.shape[1]}-d latents, the model "
                             f"{meta.encoder_dim}-d")
    return MotionCLIP(network, meta, encoder=encoder, name=name, bank=bank)
