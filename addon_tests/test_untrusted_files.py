"""Untrusted motion files: misaligned rows, absurd frame rates and lengths are named errors, and a fuzzer over
BVH and ASF/AMC finds no traceback and no hang (every failure is a MotionFileError naming the file)."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motionclip_blender.core.io.bvh import parse_bvh, write_bvh
from motionclip_blender.core.errors import MotionCLIPError
from motionclip_blender.core.io.mocap import read_motion
from motionclip_blender.core.motion.motion import MotionFileError

from .test_motion import random_motion
from motionclip_blender.core.paths import data_root

ASF = data_root() / "cmu" / "asf" / "01.asf"


@pytest.fixture(scope="module")
def bvh_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("bvh") / "m.bvh"
    write_bvh(random_motion(6, seed=2), path)
    return path.read_text()


def _write(tmp_path, text, name="f.bvh"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_with_more_values_than_declared_are_refused(tmp_path, bvh_text):
    lines = bvh_text.splitlines()
    first_row = next(i for i, l in enumerate(lines) if l.startswith("Frame Time")) + 1
    lines[first_row] += " 0.0"
    with pytest.raises(MotionFileError, match="holds 76 values, but the hierarchy declares 75"):
        parse_bvh(_write(tmp_path, "\n".join(lines)))
    fewer = bvh_text.replace("CHANNELS 3", "CHANNELS 2", 1)  # one joint's channel count typed wrong
    with pytest.raises(MotionFileError, match="CHANNELS"):
        parse_bvh(_write(tmp_path, fewer, "g.bvh"))


@pytest.mark.parametrize("frame_time, message", [("8.3333", "0.12 fps is outside"), ("1000", "outside"),
                                                 ("0.00001", "100000 fps is outside"), ("0", "must be positive")])


def test_frame_time_is_bounded(tmp_path, bvh_text, frame_time, message):
    text = "\n".join(f"Frame Time: {frame_time}" if l.startswith("Frame Time") else l for l in bvh_text.splitlines())
    with pytest.raises(MotionFileError, match=message):
        read_motion(_write(tmp_path, text))


def test_length_is_bounded(tmp_path, bvh_text):
    lines = bvh_text.splitlines()
    lines = [("Frames: 20000000" if l.startswith("Frames:") else l) for l in lines]
    with pytest.raises(MotionFileError, match="longer than the 3 h"):
        parse_bvh(_write(tmp_path, "\n".join(lines)))


_MUTATIONS = st.lists(st.tuples(st.sampled_from(["delete", "insert", "replace", "dup_line", "drop_line"]),
                                st.integers(0, 10_000), st.sampled_from(
                                    ["0", "-1", "1e309", "nan", "{", "}", "JOINT", "ROOT", "End", "Site", "OFFSET",
                                     "CHANNELS", "3", "6", "Xrotation", "MOTION", "Frames:", "Frame", "Time:", "\n",
                                     "x", "99999999", "0.0333", "-0"])), min_size=1, max_size=6)


def _mutate(text: str, edits) -> str:
    tokens = text.replace("\n", " \n ").split(" ")
    for op, at, tok in edits:
        k = at % max(1, len(tokens))
        if op == "delete" and tokens:
            del tokens[k]
        elif op == "insert":
            tokens.insert(k, tok)
        elif op == "replace" and tokens:
            tokens[k] = tok
        else:
            lines = " ".join(tokens).split("\n")
            j = at % len(lines)
            lines = lines[:j] + ([lines[j]] * 2 if op == "dup_line" else []) + lines[j + 1:]
            tokens = "\n".join(lines).replace("\n", " \n ").split(" ")
    return " ".join(tokens)


def _only_named_errors(path):
    try:
        motion = read_motion(path, asf=ASF) if path.suffix == ".amc" else read_motion(path)
    except MotionCLIPError as exc:
        assert str(path) in str(exc) or path.name in str(exc) or "leg" in str(exc), str(exc)
        return
    assert np.isfinite(motion.rotations).all() and np.isfinite(motion.translation).all()


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_MUTATIONS)
def test_fuzzed_bvh_never_crashes(tmp_path, bvh_text, edits):
    _only_named_errors(_write(tmp_path, _mutate(bvh_text, edits)))


@pytest.mark.skipif(not ASF.is_file(), reason="CMU data not found")
@settings(max_examples=60, deadline=4000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_MUTATIONS)
def test_fuzzed_amc_never_crashes(tmp_path, edits):
    amc = (ASF.parent.parent / "trials" / "01_01.amc").read_text().splitlines()[:3 + 29 * 40]  # 40 frames
    _only_named_errors(_write(tmp_path, _mutate("\n".join(amc), edits), "f.amc"))
