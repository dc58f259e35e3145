"""Action sequences from one prompt: parsing, lengths, part boundaries and a continuous root."""

import numpy as np
import pytest

from motionclip_blender.core.model.sequence import Part, parse_sequence

from .test_api import model, small_checkpoint  # noqa: F401  (fixtures)


def test_parsing_parts_and_lengths():
    assert parse_sequence("walk forward (2 s), then jump (1.5 sec), and then wave") == [
        Part("walk forward", 2.0), Part("jump", 1.5), Part("wave", None)]
    assert parse_sequence("a person walks and then sits down for 3 seconds") == [
        Part("a person walks", None), Part("sits down", 3.0)]
    assert parse_sequence("run; jump, kick") == [Part("run", None), Part("jump", None), Part("kick", None)]
    with pytest.raises(ValueError, match="no action"):
        parse_sequence("walk, then (2 s)")
    with pytest.raises(ValueError, match="non-empty"):
        parse_sequence("  ")


def test_a_sequence_is_its_parts_one_after_the_other(model):  # noqa: F811
    motion, segments = model.generate_sequence("walk forward (2 s), then jump (1 s), then wave", transition=8)
    assert [s.text for s in segments] == ["walk forward", "jump", "wave"]
    assert segments[0].start == 0 and segments[-1].end == len(motion)
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    assert len(motion) == 60 + 30 + 60 - 2 * 8
    # the root does not jump where parts meet: no step at a seam beyond the clip's largest elsewhere
    steps = np.linalg.norm(np.diff(motion.translation[:, :2], axis=0), axis=1)
    seams = [s.start - 1 for s in segments[1:]]
    others = np.delete(steps, seams)
    assert steps[seams].max() <= max(others.max(), 0.05) + 1e-6
    same, _ = model.generate_sequence(["walk forward", "jump", "wave"], transition=8)
    assert len(same) == 3 * 60 - 16


def test_a_part_shorter_than_the_transition_keeps_frames_of_its_own(model):  # noqa: F811
    """A 5-frame hop between two parts faded over 10 frames: the next fade may not reach back past the hop's
    start (it used to, leaving the hop a reversed segment that broke its NLA strip)."""
    motion, segments = model.generate_sequence("walk (2 s), then a quick hop (0.17 s), then jump (2 s)",
                                               transition=10)
    assert [s.text for s in segments] == ["walk", "a quick hop", "jump"]
    assert all(s.end > s.start for s in segments), segments
    assert all(a.end == b.start for a, b in zip(segments, segments[1:])) and segments[-1].end == len(motion)
