"""Motion files as other tools write them: ASF/AMC in radians, 3ds Max joint names with spaces, byte-order marks,
rounded BVH frame times, and files that must fail with a named error (an ASF hierarchy with a loop, an AMC
without frame numbers, an .npz claiming an absurd frame rate)."""

import math
import re

import numpy as np
import pytest

from motionclip_blender.core.errors import InputError
from motionclip_blender.core.io.asf_amc import parse_asf
from motionclip_blender.core.io.bvh import parse_bvh, rate_from_frame_time, write_bvh
from motionclip_blender.core.io.formats import read_any
from motionclip_blender.core.io.mocap import read_motion
from motionclip_blender.core.motion.motion import Motion, MotionFileError
from motionclip_blender.core.paths import data_root

from .test_motion import random_motion

CMU = data_root() / "cmu"
needs_cmu = pytest.mark.skipif(not (CMU / "asf" / "01.asf").is_file(), reason="CMU data not found")
_NUMBER = r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"


def _radians(match: re.Match) -> str:
    return " ".join(f"{math.radians(float(v)):.9f}" for v in match.group(0).split())


def asf_in_radians(text: str) -> str:
    """The same skeleton with ``:units angle rad``: every bone axis and the root orientation in radians."""
    text = re.sub(r"angle\s+deg", "angle rad", text)
    text = re.sub(rf"(?m)^(\s*axis\s+)((?:{_NUMBER}\s+){{2}}{_NUMBER})",
                  lambda m: m.group(1) + _radians(re.match(r".*", m.group(2))), text)
    return re.sub(rf"(?m)^(\s*orientation\s+)((?:{_NUMBER}\s+){{2}}{_NUMBER})",
                  lambda m: m.group(1) + _radians(re.match(r".*", m.group(2))), text)


def amc_in_radians(lines: list[str]) -> list[str]:
    """The same frames with ``:RADIANS``: rotations converted, the root's translation (its first three) kept."""
    out = []
    for line in lines:
        words = line.split()
        if line.strip() == ":DEGREES":
            out.append(":RADIANS")
        elif not words or line.startswith((":", "#")) or words[0].isdigit():
            out.append(line)
        else:
            values = [float(v) for v in words[1:]]
            keep = 3 if words[0] == "root" else 0
            out.append(" ".join([words[0]] + [f"{v:.9f}" for v in values[:keep]]
                                + [f"{math.radians(v):.9f}" for v in values[keep:]]))
    return out


@needs_cmu
def test_asf_and_amc_in_radians_read_as_the_same_motion(tmp_path):
    asf = (CMU / "asf" / "01.asf").read_text()
    amc = (CMU / "trials" / "01_01.amc").read_text().splitlines()[:3 + 30 * 40]  # 40 frames of 29 bones
    (tmp_path / "deg.asf").write_text(asf)
    (tmp_path / "deg.amc").write_text("\n".join(amc))
    (tmp_path / "rad.asf").write_text(asf_in_radians(asf))
    (tmp_path / "rad.amc").write_text("\n".join(amc_in_radians(amc)))
    assert "angle rad" in (tmp_path / "rad.asf").read_text()
    degrees = read_motion(tmp_path / "deg.amc", asf=tmp_path / "deg.asf").joint_positions()
    radians = read_motion(tmp_path / "rad.amc", asf=tmp_path / "rad.asf").joint_positions()
    assert np.abs(degrees - radians).max() < 1e-4  # was 1.24 m: the bone axes were read as degrees


@needs_cmu
def test_an_asf_hierarchy_with_a_loop_is_an_error_not_a_hang(tmp_path):
    text = (CMU / "asf" / "01.asf").read_text()
    looped = re.sub(r"(?m)^(\s*ltibia\s+lfoot)\s*$", r"\1 lfemur", text)
    assert looped != text
    (tmp_path / "loop.asf").write_text(looped)
    with pytest.raises(MotionFileError, match="reaches bone 'lfemur' twice"):
        parse_asf(tmp_path / "loop.asf")


@needs_cmu
def test_an_amc_without_frame_numbers_is_a_named_error(tmp_path):
    (tmp_path / "f.amc").write_text("5 5\n")
    with pytest.raises(MotionFileError, match="f.amc: not an AMC motion file"):
        read_motion(tmp_path / "f.amc", asf=CMU / "asf" / "01.asf")


def test_bvh_joint_names_with_spaces_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "m.bvh"
    write_bvh(random_motion(5, seed=1), path)
    text = path.read_text().replace("JOINT left_hip", "JOINT Bip01 L Thigh")
    (tmp_path / "biped.bvh").write_text("\ufeff" + text, encoding="utf-8")
    bvh = parse_bvh(tmp_path / "biped.bvh")
    assert "Bip01_L_Thigh" in bvh.names and len(bvh.names) == len(parse_bvh(path).names)
    (tmp_path / "unnamed.bvh").write_text(text.replace("JOINT Bip01 L Thigh", "JOINT"))
    with pytest.raises(MotionFileError, match="a joint name and then '\\{' expected"):
        parse_bvh(tmp_path / "unnamed.bvh")


@pytest.mark.parametrize("frame_time, fps", [(0.016667, 60.0), (0.008333, 120.0), (0.0333333, 30.0),
                                             (0.041667, 24.0), (0.0333667, 30 / 1.001), (0.0123, 81.301)])
def test_rounded_bvh_frame_times_give_the_intended_rate(frame_time, fps):
    assert rate_from_frame_time(frame_time) == pytest.approx(fps, abs=1e-9)


@pytest.mark.parametrize("fps, message", [(float("inf"), "positive finite"), (1e-6, "outside 1-1000 fps")])
def test_an_npz_with_an_absurd_frame_rate_is_refused_before_resampling(tmp_path, fps, message):
    m = random_motion(10, seed=4)
    np.savez(tmp_path / "m.npz", rotations=m.rotations, translation=m.translation, fps=np.float64(fps))
    with pytest.raises(MotionFileError, match=message):
        read_any(tmp_path / "m.npz", fps=30)


def test_a_motion_needs_a_finite_rate():
    m = random_motion(3, seed=0)
    with pytest.raises(InputError, match="positive finite"):
        Motion(m.rotations, m.translation, float("inf"))
