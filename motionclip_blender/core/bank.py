"""The latent bank: encoded training windows that text-to-motion decodes from instead of the raw text
embedding.

Why: the text cosine loss pulls every window of a prompt toward one text embedding, so the decoder's answer
for that embedding is the *average* of those windows - a walk whose steps cancel out, a kick whose leg never
leaves the floor. Encoded motion latents, by contrast, decode to the motion they came from. The bank keeps the
latents of the training windows (both mirror images, a window every ``stride`` frames); a prompt picks the
windows whose latents are nearest to its text embedding (the CLIP-aligned space makes that ranking the zero-shot
part) and decodes one of them, moved slightly toward the text. Seeds choose among the nearest windows, so
variations are different takes rather than one take on another path.

Stored beside the model as ``latent_bank.safetensors`` (float16 latents; the texts in its metadata).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import MotionCLIPError

BANK_NAME = "latent_bank.safetensors"


class BankError(MotionCLIPError, ValueError):
    """A latent bank that cannot be used; the message names the file."""


@dataclass
class LatentBank:
    latents: torch.Tensor  # (N, D) unit vectors
    texts: list[str]  # the prompt of each window's trial (mirrored with the window)
    sources: list[str]  # where each window comes from: "<trial>@<start frame>" (+ "~" when mirrored)
    stride: int = 20  # frames between successive windows of one trial

    def __post_init__(self):
        n = self.latents.shape[0] if self.latents.ndim == 2 else -1
        if n < 1 or len(self.texts) != n or len(self.sources) != n:
            raise BankError(f"a bank needs one text and one source per latent, got {tuple(self.latents.shape)}, "
                            f"{len(self.texts)} and {len(self.sources)}")
        self.latents = F.normalize(self.latents.float(), dim=-1)
        self._next: dict[int, int] | None = None

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

    def __len__(self) -> int:
        return len(self.texts)

    def nearest(self, query: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (indices, cosines) of the ``k`` latents nearest to ``query``, best first."""
        scores = self.latents @ F.normalize(query.float().flatten(), dim=0)
        top = torch.topk(scores, min(k, len(self)))
        return top.indices, top.values

    def pick(self, query: torch.Tensor, seed: int | None, candidates: int = 8,
             temperature: float = 0.02) -> tuple[int, float]:
        """One window for ``query``: the nearest when ``seed`` is None, else a seeded draw among the
        ``candidates`` nearest, weighted by softmax(cosine / temperature)."""
        idx, cos = self.nearest(query, 1 if seed is None else candidates)
        if seed is None:
            return int(idx[0]), float(cos[0])
        gen = torch.Generator().manual_seed(int(seed))
        choice = int(torch.multinomial(torch.softmax(cos / temperature, dim=0), 1, generator=gen))
        return int(idx[choice]), float(cos[choice])

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / BANK_NAME
        tmp = path.with_name(f".{BANK_NAME}.tmp")
        save_file({"latents": self.latents.half().contiguous()}, str(tmp),
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
            return cls(load_file(str(path))["latents"], list(json.loads(meta["texts"])),
                       list(json.loads(meta["sources"])), int(meta.get("stride", 20)))
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise BankError(f"{path}: cannot read the latent bank ({exc})") from None


@torch.no_grad()
def build_bank(model, clips, stride: int = 20, batch: int = 64, progress: bool = True) -> LatentBank:
    """Encode every ``stride``-th window of the training-length of each clip and of its mirror image with
    ``model`` (an ``api.MotionCLIP``). Clips shorter than a window count once, whole."""
    from tqdm import tqdm

    from .corpus import mirror_prompt

    windows, texts, sources = [], [], []
    for clip in clips:
        for motion, text, mark in ((clip.motion, clip.prompt, ""),
                                   (clip.motion.mirrored(), mirror_prompt(clip.prompt), "~")):
            n, w = len(motion), model.frames
            for start in range(0, max(1, n - w + 1), stride):
                windows.append(motion[start:start + w])
                texts.append(text)
                sources.append(f"{clip.trial}@{start}{mark}")
    latents = []
    for i in tqdm(range(0, len(windows), batch), desc="latent bank", unit="batch", disable=not progress):
        latents.append(model.encode_windows(windows[i:i + batch]))
    return LatentBank(torch.cat(latents), texts, sources, stride)
