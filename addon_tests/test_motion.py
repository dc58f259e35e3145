"""The Motion type: shapes, slicing, conventions, files (npz and BVH)."""

import math

import numpy as np
import pytest
import torch

from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.io.bvh import parse_bvh, read_smpl_bvh, write_bvh
from motionclip_blender.core.motion.motion import Motion, MotionFileError
from motionclip_blender.core.motion.skeleton import JOINT_INDEX, rest_pelvis_height


def random_motion(frames=20, seed=0, fps=30.0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    q = R.axis_angle_to_quaternion(torch.randn(frames, 24, 3, generator=g) * 0.6).numpy()
    t = torch.randn(frames, 3, generator=g).numpy() * 0.3 + np.array([0, 0, 0.95])
    return Motion(q, t, fps)


def test_rest_pose_convention_z_up_facing_negative_y():
    pos = Motion.rest(1).joint_positions()[0]
    assert pos.shape == (24, 3)
    assert pos[JOINT_INDEX["head"], 2] > pos[JOINT_INDEX["pelvis"], 2] + 0.5  # Z up
    assert pos[JOINT_INDEX["left_hip"], 0] > 0 > pos[JOINT_INDEX["right_hip"], 0]  # left at +X
    toes = pos[JOINT_INDEX["left_foot"]] - pos[JOINT_INDEX["left_ankle"]]
    assert toes[1] < -0.1  # feet point -Y: the character faces -Y
    assert abs(pos[:, 2].min()) < 0.02  # standing on the ground
    assert abs(Motion.rest(1).heading()[0]) < 0.05
    assert abs(rest_pelvis_height() - 0.956) < 0.01


def test_len_slicing_and_validation():
    m = random_motion(20)
    assert len(m) == 20 and len(m[5:12]) == 7 and len(m[3]) == 1
    assert np.allclose(m[5:12].rotations, m.rotations[5:12])
    assert m.joint_positions().shape == (20, 24, 3)
    with pytest.raises(ValueError, match="rotations must be"):
        Motion(np.zeros((4, 23, 4)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="translation must be"):
        Motion(m.rotations, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Motion(m.rotations, np.full((20, 3), np.nan))


def test_features_round_trip():
    m = random_motion(10)
    feats = m.to_features()
    assert feats.shape == (10, 25, 6)
    back = Motion.from_features(feats, m.fps)
    assert np.allclose(back.joint_positions(), m.joint_positions(), atol=1e-5)


def test_npz_round_trip_and_errors(tmp_path):
    m = random_motion(15, fps=24)
    m.save_npz(tmp_path / "a.npz")
    back = Motion.load_npz(tmp_path / "a.npz")
    assert back.fps == 24 and np.allclose(back.rotations, m.rotations) and np.allclose(back.translation, m.translation)
    with pytest.raises(MotionFileError, match="no such"):
        Motion.load_npz(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes((tmp_path / "a.npz").read_bytes()[:100])
    with pytest.raises(MotionFileError, match="bad.npz"):
        Motion.load_npz(tmp_path / "bad.npz")


def test_bvh_write_read_round_trip(tmp_path):
    m = random_motion(25)
    write_bvh(m, tmp_path / "m.bvh")
    back = read_smpl_bvh(tmp_path / "m.bvh")
    assert len(back) == 25 and back.fps == pytest.approx(30.0)
    assert np.abs(back.joint_positions() - m.joint_positions()).max() < 1e-4
    parsed = parse_bvh(tmp_path / "m.bvh")
    assert parsed.names[0] == "pelvis" and len(parsed.names) == 24
    # Y-up file: the head is above the pelvis along the file's Y axis
    assert parsed.offsets[parsed.names.index("spine1")][1] > 0


def test_bvh_errors_name_the_problem(tmp_path):
    write_bvh(random_motion(5), tmp_path / "m.bvh")
    text = (tmp_path / "m.bvh").read_text()
    (tmp_path / "trunc.bvh").write_text(text[: len(text) - 200])
    with pytest.raises(MotionFileError, match="truncated"):
        parse_bvh(tmp_path / "trunc.bvh")
    (tmp_path / "junk.bvh").write_text("hello")
    with pytest.raises(MotionFileError, match="not a BVH"):
        parse_bvh(tmp_path / "junk.bvh")
    (tmp_path / "other.bvh").write_text(text.replace("left_knee", "LeftLeg"))
    with pytest.raises(MotionFileError, match="left_knee"):
        read_smpl_bvh(tmp_path / "other.bvh")


def test_resample_keeps_duration_and_endpoints():
    m = random_motion(31, fps=30)
    r = m.resample(60)
    assert len(r) == 61 and r.fps == 60
    assert np.allclose(r.joint_positions()[[0, -1]], m.joint_positions()[[0, -1]], atol=1e-4)
    # a midpoint lies between its neighbours for translation
    assert np.allclose(r.translation[1], (m.translation[0] + m.translation[1]) / 2, atol=1e-6)


def test_mirror_flips_left_and_right():
    m = random_motion(8)
    mir = m.mirrored()
    p, q = m.joint_positions(), mir.joint_positions()
    left, right = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
    # mirrored positions: x negated, left/right swapped (SMPL's rest is only near-symmetric: a few cm)
    assert np.abs(q[:, left] * [-1, 1, 1] - p[:, right]).max() < 0.06
    assert np.allclose(mir.mirrored().rotations, m.rotations, atol=1e-6)


def test_rotate_about_z_turns_heading():
    m = Motion.rest(3)
    turned = m.rotated_about_z(math.pi / 2)
    assert np.allclose(turned.heading(), math.pi / 2, atol=0.05)
