"""The latent bank: encoded training windows that text-to-motion decodes from instead of the raw text
embedding.

Why: the text cosine loss pulls every window of a prompt toward one text embedding, so the decoder's answer
for that embedding is the *average* of those windows - a walk whose steps cancel out, a kick whose leg never
leaves the floor. Encoded motion latents, by contrast, decode to the motion they came from. The bank keeps the
latents of the training windows (both mirror images, a window every ``stride`` frames); a prompt picks the
windows whose latents are nearest to its text embedding (the CLIP-aligned space makes that ranking the zero-shot
part) and decodes it. Seeds choose other windows within a small margin of the best, other performances first,
so variations are different takes rather than one take on another path.

Within an action family the text loss (hinged, ``text_cos_target``) leaves every window about equally near its
prompts: "walk slowly" was 0.800 from a plain walk, 0.799 from a brisk one and 0.797 from a slow one. So a
prompt's ranking also weighs how near it is to each window's own training text (``text_scores``: "walk
slowly" and "slow walk" are close in the text space), which picks the slow walk without moving any window of
another action ahead of the latent ranking by more than that weight. Likewise a prompt that names a direction of
travel ("walk backwards", "sidestep to the left") raises the windows that travel that way (``travel.py``), and
one that names a jump, hop or leap the windows whose decoding gets both feet off the ground (``flight.py``).

The same near-ties let the windows the decoder renders nearly still win: "dance salsa" drew a window whose real
dancing (pose energy 16 cm) decodes to 1.8 cm, while other windows of the take, 0.005 behind, decode to 11-13 cm.
So the bank keeps the pose energy of each window as decoded, and a window moving far less than the other decoded
windows of its own text (a lull, ``lulls``) ranks a little lower. Measured against its own text, a slow walk or a
balance is no lull.

Each window may also carry a *code*: its latent refined by gradient descent so the decoder reproduces that window
more closely (``refine_codes``; the encoder is a one-shot guess, and on the training windows of v0.3 thirty Adam
steps took the joint error from 199 to 125 mm). Picking uses the encoder latents (they are what the text space
aligns with); decoding uses the codes.

Stored beside the model as ``latent_bank.safetensors`` (float16 latents and codes; the texts in its metadata).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import MotionCLIPError
from .flight import asks_for_flight, flight_scores, window_flight
from .travel import requested_directions, travel_scores, window_travel

BANK_NAME = "latent_bank.safetensors"
TEXT_WEIGHT = 0.25  # how much a window's own text counts beside its latent when a prompt ranks windows
# Seeded takes: windows within this score of the best are the prompt's variations. Measured on the suite's
# prompts: one family's performances sit within 0.02-0.06 of its best window, the next family 0.08 and more
# away ("jog": other runs at 0.085; "punch": swordplay at 0.29).
VARIATION_MARGIN = 0.05
VARIATIONS = 8  # at most this many takes per prompt, so seeds cycle instead of reaching the margin's far end
# How much a window's travel counts when the prompt names a direction. Measured: at 0.08 "walk to the right" still
# drew a forward walk; at 0.12 it goes right and the suite keeps every verdict.
TRAVEL_WEIGHT = 0.12
# How much a window's flight counts when the prompt names a jump: above the ties within a family (0.005) and a
# full lull, below the gaps between families (0.08 and more), so it picks the jumps of the prompt's own action.
FLIGHT_WEIGHT = 0.06
LULL_WEIGHT = 0.03  # a full lull (a still window) ranks this much lower: above the ties, below family gaps
LULL_FRACTION = 0.5  # a window moving less than this share of its text's median pose energy is (partly) a lull
CANDIDATE_POOL = 64  # windows ranked to find them (a family has up to a few hundred; the margin cuts first)


class BankError(MotionCLIPError, ValueError):
    """A latent bank that cannot be used; the message names the file."""


@dataclass
class LatentBank:
    latents: torch.Tensor  # (N, D) unit vectors
    texts: list[str]  # the prompt of each window's trial (mirrored with the window)
    sources: list[str]  # where each window comes from: "<trial>@<start frame>" (+ "~" when mirrored)
    stride: int = 20  # frames between successive windows of one trial
    codes: torch.Tensor | None = None  # (N, D) unit decoder codes refined per window, or None: decode the latents
    travel: torch.Tensor | None = None  # (N, 2) each window's (forward, left) travel in m/s (travel.py), or None
    energy: torch.Tensor | None = None  # (N,) pose energy (m, prompt_suite.pose_energy) of each window as decoded
    flight: torch.Tensor | None = None  # (N,) how high (m) each window as decoded gets both feet up (flight.py)

    def __post_init__(self):
        n = self.latents.shape[0] if self.latents.ndim == 2 else -1
        if n < 1 or len(self.texts) != n or len(self.sources) != n:
            raise BankError(f"a bank needs one text and one source per latent, got {tuple(self.latents.shape)}, "
                            f"{len(self.texts)} and {len(self.sources)}")
        if self.codes is not None and tuple(self.codes.shape) != tuple(self.latents.shape):
            raise BankError(f"the bank's codes {tuple(self.codes.shape)} do not match its latents "
                            f"{tuple(self.latents.shape)}")
        if self.travel is not None and tuple(self.travel.shape) != (n, 2):
            raise BankError(f"the bank's travel {tuple(self.travel.shape)} is not one (forward, left) pair per "
                            f"window ({n})")
        for name in ("energy", "flight"):
            if getattr(self, name) is not None and tuple(getattr(self, name).shape) != (n,):
                raise BankError(f"the bank's {name} {tuple(getattr(self, name).shape)} is not one figure per window "
                                f"({n})")
        self.latents = F.normalize(self.latents.float(), dim=-1)
        self.codes = None if self.codes is None else F.normalize(self.codes.float(), dim=-1)
        self.travel = None if self.travel is None else self.travel.float()
        self.energy = None if self.energy is None else self.energy.float()
        self.flight = None if self.flight is None else self.flight.float()
        self._next: dict[int, int] | None = None
        self._lulls: torch.Tensor | None = None

    def code(self, index: int) -> torch.Tensor:
        """What to decode for window ``index``: its refined code, else its latent."""
        return (self.codes if self.codes is not None else self.latents)[index]

    def successor(self, index: int) -> int | None:
        """The window that starts ``stride`` frames after window ``index`` in the same performance, if any."""
        if self._next is None:
            where = {}
            for i, src in enumerate(self.sources):
                trial, _, rest = src.rpartition("@")
                where[(trial, rest.rstrip("~"), rest.endswith("~"))] = i
            self._next = {}
            for (trial, start, mirrored), i in where.items():
                j = where.get((trial, str(int(start) + self.stride), mirrored))
                if j is not None:
                    self._next[i] = j
        return self._next.get(index)

    def describe(self, index: int) -> str:
        """Where window ``index`` comes from, for an animator: its training text and performance, e.g.
        '"walk" (CMU trial 02_01, frame 20, mirrored)' - so a prompt far from the training actions says what it
        drew (a "sit down" that lies down), and a take's data licence can be traced."""
        trial, _, start = self.sources[index].rpartition("@")
        corpus, _, name = trial.rpartition(":")
        where = f"{corpus.upper()} clip {name}" if corpus else f"CMU trial {name}"
        mirrored = ", mirrored" if start.endswith("~") else ""
        return f'"{self.texts[index]}" ({where}, frame {start.rstrip("~")}{mirrored})'

    def __len__(self) -> int:
        return len(self.texts)

    def travel_fit(self, prompt: str) -> torch.Tensor | None:
        """(N,) how well each window travels the way ``prompt`` asks (``travel.travel_scores``), or None when
        the prompt names no direction of travel or the bank does not know its windows' travel."""
        directions = requested_directions(prompt)
        return travel_scores(self.travel, directions) if directions and self.travel is not None else None

    def flight_fit(self, prompt: str) -> torch.Tensor | None:
        """(N,) how fully each window gets both feet off the ground (``flight.flight_scores``) when ``prompt``
        names a jump, hop or leap; None otherwise or when the bank does not know its windows' flight."""
        return flight_scores(self.flight) if self.flight is not None and asks_for_flight(prompt) else None

    def lulls(self) -> torch.Tensor | None:
        """(N,) in [0, 1]: how far each window falls short of ``LULL_FRACTION`` of the median pose energy of
        the windows sharing its text (0: it moves like its performance; 1: it stands still), or None when the
        bank does not know its windows' energy."""
        if self.energy is None:
            return None
        if self._lulls is None:
            rows: dict[str, list[int]] = {}
            for i, text in enumerate(self.texts):
                rows.setdefault(text, []).append(i)
            typical = {text: float(self.energy[i].median()) for text, i in rows.items()}
            reference = torch.tensor([LULL_FRACTION * typical[t] for t in self.texts]).clamp_min(1e-6)
            self._lulls = (1 - self.energy / reference).clamp(0, 1)
        return self._lulls

    def nearest(self, query: torch.Tensor, k: int, text_scores: torch.Tensor | None = None,
                travel_scores: torch.Tensor | None = None,
                flight_scores: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (indices, scores) of the ``k`` windows nearest to ``query``, best first: the cosine of each latent
        to ``query``, plus ``TEXT_WEIGHT`` x ``text_scores`` (N,) when given (the query's cosine to each
        window's own text, see the module docstring), plus ``TRAVEL_WEIGHT`` x ``travel_scores`` (N,) when
        given (how well each window travels the way the prompt asks, ``travel.travel_scores``), plus
        ``FLIGHT_WEIGHT`` x ``flight_scores`` (N,) when given (``flight_fit``), minus ``LULL_WEIGHT`` x
        ``lulls()`` when the bank knows its windows' energy."""
        scores = self.latents @ F.normalize(query.float().flatten(), dim=0)
        for name, extra, weight in (("text_scores", text_scores, TEXT_WEIGHT),
                                    ("travel_scores", travel_scores, TRAVEL_WEIGHT),
                                    ("flight_scores", flight_scores, FLIGHT_WEIGHT)):
            if extra is not None:
                if tuple(extra.shape) != (len(self),):
                    raise BankError(f"{name} must have one score per window ({len(self)}), got {tuple(extra.shape)}")
                scores = scores + weight * extra.float()
        if self.lulls() is not None:
            scores = scores - LULL_WEIGHT * self.lulls()
        top = torch.topk(scores, min(k, len(self)))
        return top.indices, top.values

    def pick(self, query: torch.Tensor, seed: int | None, text_scores: torch.Tensor | None = None,
             travel_scores: torch.Tensor | None = None,
             flight_scores: torch.Tensor | None = None) -> tuple[int, float]:
        """One window for ``query``: the nearest when ``seed`` is None, else the (seed mod n)-th of the n other
        takes ``_alternatives`` offers, so any n consecutive seeds are n different takes and none repeats the
        seed-None take (unless nothing else is near enough: then that take)."""
        idx, scores = self.nearest(query, 1 if seed is None else CANDIDATE_POOL, text_scores, travel_scores,
                                   flight_scores)
        if seed is None:
            return int(idx[0]), float(scores[0])
        others = self._alternatives(idx.tolist(), scores.tolist())
        if not others:
            return int(idx[0]), float(scores[0])
        return others[int(seed) % len(others)]

    def _alternatives(self, ranked: list[int], scores: list[float]) -> list[tuple[int, float]]:
        """Other takes than the best of ``ranked`` (window indices best first, with their ``scores``): those
        within ``VARIATION_MARGIN`` of the best score, first one per other performance (its best window),
        then other windows of the performances already drawn (a later stretch, the mirror image), at most
        ``VARIATIONS``. Windows of one trial overlap and repeat one performer's cycle, so they come last."""
        near = [(i, s) for i, s in zip(ranked, scores) if s >= scores[0] - VARIATION_MARGIN]
        performance = [self.sources[i].rpartition("@")[0] for i, _ in near]
        first, rest, seen = [], [], {performance[0]}
        for (i, s), trial in zip(near[1:], performance[1:]):
            (rest if trial in seen else first).append((i, s))
            seen.add(trial)
        return (first + rest)[:VARIATIONS]

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / BANK_NAME
        tmp = path.with_name(f".{BANK_NAME}.tmp")
        tensors = {"latents": self.latents.half().contiguous()}
        if self.codes is not None:
            tensors["codes"] = self.codes.half().contiguous()
        for name in ("travel", "energy", "flight"):
            if getattr(self, name) is not None:
                tensors[name] = getattr(self, name).half().contiguous()
        save_file(tensors, str(tmp),
                  metadata={"texts": json.dumps(self.texts), "sources": json.dumps(self.sources),
                            "stride": str(self.stride)})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # safetensors writes a private file; a model file is ordinary
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "LatentBank | None":
        """The bank in a model directory, or None when it has none."""
        path = Path(directory) / BANK_NAME
        if not path.is_file():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
            return cls(tensors["latents"], list(json.loads(meta["texts"])), list(json.loads(meta["sources"])),
                       int(meta.get("stride", 20)), tensors.get("codes"), tensors.get("travel"),
                       tensors.get("energy"), tensors.get("flight"))
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise BankError(f"{path}: cannot read the latent bank ({exc})") from None


@torch.no_grad()
def build_bank(model, clips, stride: int = 20, batch: int = 64, progress: bool = True,
               refine_steps: int = 0) -> LatentBank:
    """Encode every ``stride``-th window of the training-length of each clip and of its mirror image with
    ``model`` (an ``api.MotionCLIP``), with each window's travel (``travel.window_travel``) and the pose energy
    and flight of its decoding (see ``lulls``, ``flight.py``). Clips shorter than a window count once, whole.
    ``refine_steps`` > 0 also refines a decoder code per window (``refine_codes``)."""
    from tqdm import tqdm

    from ..training.corpus import mirror_prompt
    from ..training.prompt_suite import pose_energy

    windows, texts, sources, travel = [], [], [], []
    for clip in clips:
        for motion, text, mark in ((clip.motion, clip.prompt, ""),
                                   (clip.motion.mirrored(), mirror_prompt(clip.prompt), "~")):
            n, w = len(motion), model.frames
            for start in range(0, max(1, n - w + 1), stride):
                windows.append(motion[start:start + w])
                travel.append(window_travel(windows[-1].joint_positions(), motion.fps))
                texts.append(text)
                sources.append(f"{clip.trial}@{start}{mark}")
    latents = []
    for i in tqdm(range(0, len(windows), batch), desc="latent bank", unit="batch", disable=not progress):
        latents.append(model.encode_windows(windows[i:i + batch]))
    latents = torch.cat(latents)
    codes = refine_codes(model, windows, latents, refine_steps, progress=progress) if refine_steps > 0 else None
    decoded = latents if codes is None else codes
    energy, flight = [], []
    for i, w in enumerate(tqdm(windows, desc="decoded energy and flight", unit="window", disable=not progress)):
        positions = model.decode(decoded[i], len(w)).joint_positions()
        energy.append(pose_energy(positions))
        flight.append(window_flight(positions))
    return LatentBank(latents, texts, sources, stride, codes, torch.tensor(travel), torch.tensor(energy),
                      torch.tensor(flight))


def refine_codes(model, windows, latents: torch.Tensor, steps: int = 30, batch: int = 256, lr: float = 0.01,
                 progress: bool = True, on_step: Callable[[float], None] | None = None) -> torch.Tensor:
    """Per window, the unit latent the decoder turns into that window most closely: Adam on the latent (the
    weights frozen) against the training reconstruction losses (standardised features and velocities, joint
    positions at 30/m^2), re-projected onto the unit sphere after every step as the encoder's latents are.
    ``on_step(fraction done)`` after every step: a caller's progress, and its way to stop (by raising)."""
    from tqdm import tqdm

    from ..training.losses import LossWeights, reconstruction_losses

    net = model.network
    weights = LossWeights(rc=1.0, rcxyz=30.0, vel=1.0, text=0.0)
    std = net.feature_std if net.config.normalize_features else None
    out, done, total = [], 0, steps * -(-len(windows) // batch)
    for i in tqdm(range(0, len(windows), batch), desc="refining codes", unit="batch", disable=not progress):
        target, mask = model._window_batch(windows[i:i + batch])  # exactly what encode_windows encodes
        z = latents[i:i + batch].clone().float().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for _ in range(steps):
            with torch.enable_grad(), model._lock:
                losses = reconstruction_losses(net.decode(z, mask=mask), target, mask, weights, std)
                loss = sum(getattr(weights, k) * v for k, v in losses.items())
                z.grad = torch.autograd.grad(loss, z)[0]  # the codes only: the weights stay frozen
            opt.step()
            with torch.no_grad():
                z.copy_(F.normalize(z, dim=-1))
            if on_step is not None:
                done += 1
                on_step(done / total)
        out.append(z.detach())
    return torch.cat(out)
