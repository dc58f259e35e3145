"""Text search over motions: rank them by the cosine between their latent and a text, MotionCLIP's shared
space doing the matching. Latents are cached by content (and model), so searching again is instant.

    motionclip search "a person kicks" FOLDER --top-k 10
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..motion.motion import Motion


def content_key(motion: Motion) -> str:
    """A digest of what the motion is (rotations, root path, rate): the same file or action read again gives
    the same bytes, so it finds its cached latent."""
    h = hashlib.sha256()
    for array in (motion.rotations, motion.translation, np.float32(motion.fps)):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:32]


class LatentCache:
    """Latents by (model fingerprint, content key), optionally kept in an ``.npz`` file between runs."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else None
        self.entries: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self.entries = {k: data[k] for k in data.files}
            except (OSError, ValueError):  # a damaged cache is only a slower search
                self.entries = {}

    def latents(self, model, motions: list[Motion]) -> torch.Tensor:
        """(N, D) unit latents of ``motions`` under ``model``, encoding only those not cached yet."""
        keys = [f"{model.fingerprint}-{content_key(m)}" for m in motions]
        for key, motion in zip(keys, motions):
            if key not in self.entries:
                self.entries[key] = model.encode(motion).numpy()
        return torch.from_numpy(np.stack([self.entries[k] for k in keys])) if keys else torch.zeros(0, 0)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.npz")
        try:
            np.savez(tmp, **self.entries)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)


def rank(model, query: str, motions: dict[str, Motion], top_k: int = 10,
         cache: LatentCache | None = None) -> list[tuple[str, float]]:
    """The ``top_k`` names of ``motions`` whose latents are nearest to ``query``'s text embedding, best first."""
    if not motions:
        raise InputError("nothing to search: no motions given")
    if top_k < 1:
        raise InputError(f"top_k must be at least 1, got {top_k}")
    names = list(motions)
    latents = (cache or LatentCache()).latents(model, [motions[n] for n in names])
    scores = latents @ model.text_latent([query])[0]
    order = torch.argsort(scores, descending=True)[:top_k]
    return [(names[i], float(scores[i])) for i in order]


def read_folder(folder: str | os.PathLike, fps: float = 30.0, progress: bool = True) -> tuple[dict[str, Motion], list[str]]:
    """Every motion file in ``folder`` (BVH, AMC with its ASF beside it or in ``../asf/<subject>.asf``, npz) ->
    ({file name: Motion}, [files that could not be read, with the reason])."""
    from tqdm import tqdm

    from ..errors import MotionCLIPError
    from ..io.formats import READ_SUFFIXES, read_any

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in READ_SUFFIXES)
    motions, skipped = {}, []
    for path in tqdm(files, desc="reading motions", unit="file", disable=not progress):
        try:
            motions[path.name] = read_any(path, fps=fps)
        except (MotionCLIPError, OSError) as exc:
            skipped.append(f"{path.name}: {exc}")
    return motions, skipped
