"""The convention torture suite: real CMU and HDM05 motions re-expressed in other skeleton conventions (joint
orients along X, Y or Z, odd rest poses with and without a T-pose frame, Y/Z/X-up and -Z-forward worlds, cm, m
and inches, 3 and 6 channels, Euler orders, an extra root) import back to the same motion; and every BVH/AMC
of shared/data imports standing up."""

import json
from pathlib import Path

import numpy as np
import pytest

from motionclip_blender.core.io.mocap import read_motion_with_info
from motionclip_blender.core.motion.motion import MotionFileError
from motionclip_blender.core.motion.skeleton import JOINT_INDEX

from .conventions import CONVENTIONS, Convention, write
from motionclip_blender.core.paths import data_root

DATA = data_root()
pytestmark = pytest.mark.skipif(not (DATA / "hdm05" / "index.json").is_file(), reason=f"no data at {DATA}")
TRIALS = ("08_01", "12_02", "HDM_tr_kickLFront1Reps_027_120", "HDM_tr_squat1Reps_041_120")


@pytest.fixture(scope="module")
def originals():
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips

    trials = [t for t in split_trials(DATA, ["cmu", "hdm05"], "all") if t.id in TRIALS]
    assert len(trials) == len(TRIALS)
    return {c.trial.split(":")[-1]: c.motion[:90] for c in load_clips(trials, 30.0, progress=False)}


def test_there_are_at_least_ten_conventions():
    assert len(CONVENTIONS) >= 10
    assert {c.orient for c in CONVENTIONS} >= {"none", "x", "y", "z", "odd"}
    assert {c.world for c in CONVENTIONS} >= {"z-up", "y-up", "x-up", "y-up-z-back"}
    assert {c.unit_m for c in CONVENTIONS} >= {1.0, 0.01, 0.0254} and len({c.euler for c in CONVENTIONS}) >= 5


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("conv", CONVENTIONS, ids=lambda c: c.name)
def test_every_convention_imports_the_same_motion(originals, tmp_path, trial, conv):
    motion = originals[trial]
    write(motion, tmp_path / "f.bvh", conv)
    got, info = read_motion_with_info(tmp_path / "f.bvh")
    # an added T-pose frame is dropped; a first frame still close to a T-pose may go with it (Hahne's blend)
    n = len(got)
    assert len(motion) - 1 <= n <= len(motion), info.dropped_frames
    a = motion[len(motion) - n:].canonical().joint_positions()
    b = got.canonical().joint_positions()
    error = np.linalg.norm(a - b, axis=-1).mean()
    assert error <= 0.03, f"{error * 100:.1f} cm with reference {info.reference}"
    if conv.orient in ("x", "y", "z", "odd"):
        assert info.reference != "rest pose (T/A-pose)"  # their zero pose is no body: it must not be used


def test_a_file_with_no_standing_reference_is_refused(tmp_path):
    """A body that never stands (knees bent double in every frame) and tumbles (no steady up), on a skeleton
    whose zero pose is a tangle: the importer says it found no reference instead of guessing a lying body."""
    import torch

    from motionclip_blender.core.motion import rotations as R
    from motionclip_blender.core.motion.motion import Motion

    frames = 40
    motion = Motion.rest(frames)
    bend = {"hip": -1.2, "knee": 2.2}
    for side in ("left", "right"):
        for joint, angle in bend.items():
            motion.rotations[:, JOINT_INDEX[f"{side}_{joint}"]] = R.axis_angle_to_quaternion(
                torch.tensor([angle, 0.0, 0.0])).numpy()
    tumble = torch.nn.functional.normalize(torch.from_numpy(np.random.default_rng(0).normal(size=(frames, 4))), dim=-1)
    motion.rotations[:, 0] = tumble.float().numpy()
    motion = Motion(motion.rotations, motion.translation, motion.fps)
    write(motion, tmp_path / "f.bvh", Convention("odd", orient="odd"))
    with pytest.raises(MotionFileError, match="cannot find a reference pose"):
        read_motion_with_info(tmp_path / "f.bvh")


def _all_files():
    cmu = json.loads((DATA / "cmu" / "index.json").read_text())
    out = [(DATA / "cmu" / t["file"], t.get("asf")) for t in cmu["trials"] + cmu["variants"]]
    out = [(f, DATA / "cmu" / a if a else None) for f, a in out]
    hdm = json.loads((DATA / "hdm05" / "index.json").read_text())
    return out + [(DATA / "hdm05" / c["file"], DATA / "hdm05" / c["asf"]) for c in hdm["clips"]]


def test_every_file_of_the_shared_data_imports_upright():
    """In some frame the head stands >= 1.2 m above the lower ankle, and it is above the pelvis in >= 40 % of
    frames: true of every real standing performance, squats, bows and lying down included."""
    files = _all_files()
    assert len(files) >= 450
    head, pelvis = JOINT_INDEX["head"], JOINT_INDEX["pelvis"]
    ankles = [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]
    wrong = []
    for path, asf in files:
        motion, info = read_motion_with_info(path, asf=asf) if asf else read_motion_with_info(path)
        pos = motion.joint_positions()
        tall = (pos[:, head, 2] - pos[:, ankles, 2].min(axis=1)).max()
        share = (pos[:, head, 2] > pos[:, pelvis, 2]).mean()
        if tall < 1.2 or share < 0.4:
            wrong.append(f"{path.name}: head {tall:.2f} m over the feet, above the pelvis {share:.0%} ({info.reference})")
    assert not wrong, wrong
