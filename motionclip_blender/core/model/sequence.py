"""Action sequences from one prompt: "walk forward (2 s), then jump, and then wave" -> one motion whose parts
follow each other with natural transitions and a continuous root.

Each part is generated on its own (``MotionCLIP.generate``), placed where the previous one is heading to (its
first frame turned and moved onto the previous part's first transition frame) and cross-faded into it; the
foot clean-up runs once over the whole result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from ..motion.motion import Motion
from ..motion.timeline import _place, crossfade

_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?then\b|\band\s+then\b|\bthen\b|[,;])\s*", re.IGNORECASE)
_DURATION = re.compile(r"\(\s*(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\s*\)|\bfor\s+(\d+(?:\.\d+)?)\s*"
                       r"(?:s|sec|secs|seconds?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    text: str
    seconds: float | None  # None: the default length


@dataclass(frozen=True)
class Segment:
    text: str
    start: int  # first frame of the part in the whole motion
    end: int  # one past its last frame (transitions belong to the part they lead into)


def parse_sequence(prompt: str) -> list[Part]:
    """Split at commas, "then" and "and then"; "(2 s)" or "for 2 seconds" in a part sets its length."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("a sequence prompt must be a non-empty string")
    parts = []
    for raw in _SPLIT.split(prompt.strip()):
        if not raw.strip():
            continue
        match = _DURATION.search(raw)
        seconds = float(match.group(1) or match.group(2)) if match else None
        text = _DURATION.sub("", raw).strip(" ,.;")
        if not text:
            raise InputError(f"a part of {prompt!r} has a length but no action")
        if seconds is not None and seconds <= 0:
            raise InputError(f"part {text!r}: a length must be positive")
        parts.append(Part(text, seconds))
    return parts


def generate_sequence(model, prompt: str | list[str], seconds: float | None = None, transition: int = 10,
                      seed: int | None = None, clean_feet: bool = True, root: str = "full") -> tuple[Motion, list[Segment]]:
    """The parts of ``prompt`` (a string to parse, or a list of part texts) one after the other; ``seconds`` is
    the length of parts that name none (default: the model's clip length). Returns the motion and where each
    part lies in it."""
    parts = [Part(p, None) for p in prompt] if isinstance(prompt, list) else parse_sequence(prompt)
    if not parts:
        raise InputError("the sequence has no parts")
    default = model.frames if seconds is None else max(2, int(round(seconds * model.fps)))
    clips = []
    for k, part in enumerate(parts):
        frames = default if part.seconds is None else max(2, int(round(part.seconds * model.fps)))
        clips.append(model.generate(part.text, frames=frames, seed=None if seed is None else seed + k,
                                    clean_feet=False))
    out, segments = clips[0], [Segment(parts[0].text, 0, len(clips[0]))]
    for part, clip in zip(parts[1:], clips[1:]):
        # the fade never reaches back past the previous part's first frame, so a part shorter than the
        # transition keeps at least one frame of its own and every segment runs forwards
        fade = max(1, min(transition, len(out) - segments[-1].start - 1, len(clip) - 1))
        start = len(out) - fade
        placed = _place(clip, 0, out[start:start + 1])
        out = crossfade(out, placed, fade)
        segments[-1] = Segment(segments[-1].text, segments[-1].start, start)
        segments.append(Segment(part.text, start, len(out)))
    return model.finish(out, clean_feet, False, root), segments
