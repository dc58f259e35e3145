"""The training corpora (CMU trials, HDM05 clips): their indices, the performer split and the texts each
trial trains with.

Both corpora sit under one data root (``../shared/data`` by default, the one place that path is written):
``<root>/cmu/index.json`` lists ``trials`` (a CMU ``subject`` each), ``<root>/hdm05/index.json`` lists
``clips`` (an ``actor`` each). A :class:`Trial` is one file of either, with its performer as a string
so that one split file (``assets/data_split.json``: corpus -> train/val/test -> performers) covers both.

Texts: every trial trains with its own cleaned description and, when the description matches an action
family of ``assets/text/action_families.json``, with that family's hand-written everyday phrasings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MotionCLIPError
from ..paths import assets_dir, data_root

DEFAULT_DATA_ROOT = str(data_root())  # configs may name another root
CORPORA = ("cmu", "hdm05")
PARTS = ("train", "val", "test")
_LEFT_RIGHT = re.compile(r"\b(left|right)\b", re.IGNORECASE)


class DataError(MotionCLIPError, ValueError):
    """Training data that cannot be used; the message names the file and the problem."""


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


@dataclass(frozen=True)
class Family:
    name: str
    pattern: re.Pattern
    phrasings: tuple[str, ...]
    periodic: bool = False  # a gait: training windows start at a foot strike


def load_families(path: str | Path | None = None) -> list[Family]:
    path = Path(path) if path else assets_dir() / "text" / "action_families.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Family(f["name"], re.compile(f["match"]), tuple(f["phrasings"]), bool(f.get("periodic"))) for f in data["families"]]
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise DataError(f"{path}: cannot read the action families ({exc})") from None


def match_family(description: str, families: list[Family], extra_key: str = "") -> Family | None:
    """The first family whose pattern occurs in the lower-cased description or ``extra_key`` (HDM05 class)."""
    text, key = description.lower(), extra_key.lower()
    return next((f for f in families if f.pattern.search(text) or (key and f.pattern.search(key))), None)


@dataclass(frozen=True)
class Trial:
    corpus: str
    id: str
    performer: str
    description: str
    path: Path
    asf: Path | None = None
    fps: float | None = None
    family: str | None = None
    texts: tuple[str, ...] = field(default=())
    periodic: bool = False

    @property
    def prompt(self) -> str:
        """The trial's own cleaned description (the first of its texts)."""
        return self.texts[0]


def read_index(corpus_dir: str | Path, corpus: str, families: list[Family] | None = None) -> list[Trial]:
    """Every trial of one corpus directory, with the texts it trains with."""
    corpus_dir = Path(corpus_dir)
    index_path = corpus_dir / "index.json"
    try:
        data = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{index_path}: no {corpus} index (the data root should hold {corpus}/index.json)") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{index_path}: cannot read the index ({exc})") from None
    families = load_families() if families is None else families
    entries = data.get("trials") if corpus == "cmu" else data.get("clips")
    if not isinstance(entries, list):
        raise DataError(f"{index_path}: expected a list under {'trials' if corpus == 'cmu' else 'clips'!r}")
    out = []
    for e in entries:
        try:
            performer = str(e["subject"] if corpus == "cmu" else e["actor"])
            description = str(e["description"])
            fam = match_family(description, families, str(e.get("class", "")))
            own = clean_prompt(description)
            texts = (own,) + tuple(p for p in (fam.phrasings if fam else ()) if p != own)
            asf = corpus_dir / e["asf"] if e.get("asf") else None
            out.append(Trial(corpus, str(e["id"]), performer, description, corpus_dir / e["file"], asf,
                             float(e["fps"]) if e.get("fps") else None, fam.name if fam else None, texts,
                             bool(fam and fam.periodic)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{index_path}: bad entry {e!r} ({exc})") from None
    return out


def load_split(path: str | Path | None = None) -> dict[str, dict[str, list[str]]]:
    """corpus -> part -> performers (as strings)."""
    path = Path(path) if path else assets_dir() / "data_split.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {c: {p: [str(x) for x in data[c][p]] for p in PARTS} for c in CORPORA if c in data}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: cannot read the data split ({exc})") from None


def split_trials(data_root: str | Path, corpora: tuple[str, ...] | list[str], part: str,
                 split: dict | None = None) -> list[Trial]:
    """The trials of ``part`` ('train', 'val', 'test' or 'all') from each of ``corpora`` under ``data_root``."""
    if part not in PARTS + ("all",):
        raise ValueError(f"part must be one of {PARTS + ('all',)}, got {part!r}")
    split = load_split() if split is None else split
    families = load_families()
    out = []
    for corpus in corpora:
        if corpus not in CORPORA:
            raise DataError(f"unknown corpus {corpus!r} (known: {', '.join(CORPORA)})")
        trials = read_index(Path(data_root) / corpus, corpus, families)
        if part != "all":
            if corpus not in split:
                raise DataError(f"the data split has no entry for corpus {corpus!r}")
            keep = set(split[corpus][part])
            trials = [t for t in trials if t.performer in keep]
        out.extend(trials)
    return out
