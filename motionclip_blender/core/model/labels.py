"""Action label lists for recognition: the shipped ``assets/labels.txt`` and user lists."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..paths import assets_dir

DEFAULT_LABELS_FILE = "labels.txt"


def parse_labels(text: str) -> list[str]:
    """Labels from a comma/newline separated string or a labels file's text; '#' starts a comment."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        out.extend(p.strip() for p in line.split(",") if p.strip())
    return out


def read_labels(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        labels = parse_labels(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the label list ({exc})") from None
    if not labels:
        raise InputError(f"{path}: the label list is empty")
    return labels


def default_labels() -> list[str]:
    """The shipped list, or [] when the assets are missing (the UI reports that)."""
    path = assets_dir() / DEFAULT_LABELS_FILE
    return parse_labels(path.read_text(encoding="utf-8")) if path.is_file() else []
