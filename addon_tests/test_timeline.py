"""Any length, loops and root options (core/timeline.py) on real CMU walks and synthetic motions."""

from pathlib import Path

import numpy as np
import pytest

from motionclip_blender.core.motion import timeline as T
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.training.prompt_suite import foot_lift
from motionclip_blender.core.paths import data_root

DATA = data_root()
needs_data = pytest.mark.skipif(not (DATA / "cmu" / "index.json").is_file(), reason=f"no data at {DATA}")


@pytest.fixture(scope="module")
def walk():
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips

    walks = [t for t in split_trials(DATA, ["cmu"], "test") if t.family == "walk"]
    longest = max(load_clips(walks, 30.0, progress=False), key=lambda c: len(c.motion))
    assert len(longest.motion) >= 100
    return longest.motion.canonical()


def _pose_steps(m: Motion) -> np.ndarray:
    x = T._posed(m)
    return np.linalg.norm(np.diff(x, axis=0), axis=-1)


@needs_data
def test_stitching_windows_of_one_performance_gives_it_back(walk):
    windows = [walk[s:s + 60].canonical() for s in (0, 20, 40)]
    stitched = T.stitch(windows, 20)
    assert len(stitched) == 100
    err = np.linalg.norm(stitched.joint_positions() - walk[:100].joint_positions(), axis=-1)
    assert err.max() < 0.002


@needs_data
def test_a_ten_second_walk_keeps_its_speed_and_steps(walk):
    steady = walk[30:90]  # past the first step
    long = T.extend(steady, 300)
    assert len(long) == 300 and T.detect_period(steady) in range(25, 45)
    pos = long.joint_positions()
    speeds = np.array([np.linalg.norm(pos[i + 59, 0, :2] - pos[i, 0, :2]) / 2 for i in range(0, 300, 60)])
    assert np.abs(speeds / np.median(speeds) - 1).max() <= 0.2, speeds
    for i in range(0, 300, 60):
        assert min(foot_lift(pos[i:i + 60], s) for s in ("left", "right")) >= 0.05
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max(axis=1)
    original = np.linalg.norm(np.diff(pos[:60], axis=0), axis=-1).max(axis=1)
    assert steps.max() < 1.5 * original.max()  # no pop where the cycles join


@needs_data
def test_a_gait_whose_upper_body_drifts_is_still_cycled_by_its_legs(walk):
    """Decoded walks: the legs repeat but arms and torso drift, so the whole pose never recurs (detect_period
    fails); the gait is found from the legs and continued at its speed instead of following the take into a stop."""
    from motionclip_blender.core.motion.skeleton import JOINT_INDEX

    steady = walk[30:90]
    drifting = Motion(steady.rotations.copy(), steady.translation.copy(), steady.fps)
    angles = np.linspace(0, 1.2, 60)  # both shoulders rise steadily: no pose repeats a stride later
    for name in ("left_shoulder", "right_shoulder", "neck"):
        drifting.rotations[:, JOINT_INDEX[name]] = np.stack(
            [np.cos(angles / 2), 0 * angles, np.sin(angles / 2), 0 * angles], axis=-1)
    assert T.detect_period(drifting) is None
    end, period = T.gait_cycle(drifting)
    assert period in range(25, 45) and 60 - period // 2 <= end <= 60
    pos = T.extend(drifting, 300).joint_positions()
    speeds = np.array([np.linalg.norm(pos[i + 59, 0, :2] - pos[i, 0, :2]) / 2 for i in range(0, 300, 60)])
    assert np.abs(speeds / np.median(speeds) - 1).max() <= 0.2, speeds


@needs_data
def test_legs_moving_together_are_not_a_gait(walk):
    from motionclip_blender.core.motion.skeleton import JOINT_INDEX

    together = Motion(walk.rotations[30:90].copy(), walk.translation[30:90].copy(), walk.fps)
    for part in ("hip", "knee", "ankle", "foot"):
        together.rotations[:, JOINT_INDEX[f"right_{part}"]] = together.rotations[:, JOINT_INDEX[f"left_{part}"]]
    assert T.gait_cycle(together) is None


def test_a_one_off_motion_settles_into_a_hold():
    rng = np.random.default_rng(0)
    m = Motion.rest(40)
    angles = np.sort(rng.uniform(0, 1.5, 40))  # an elbow bending once, never back: no cycle
    m.rotations[:, 18] = np.stack([np.cos(angles / 2), np.sin(angles / 2), 0 * angles, 0 * angles], axis=-1)
    m.translation[:, 1] -= np.linspace(0, 0.4, 40, dtype=np.float32)
    assert T.detect_period(m) is None
    long = T.extend(m, 100)
    assert np.allclose(long.rotations[40:], m.rotations[-1], atol=1e-6)
    speed = np.linalg.norm(np.diff(long.translation[:, :2], axis=0), axis=-1)
    assert speed[-30:].max() < 1e-6 and speed[40] < speed[38] + 1e-6  # eases to a stop


@needs_data
@pytest.mark.parametrize("root", ["full", "in_place"])
def test_a_loop_flows_from_its_last_frame_into_its_first(walk, root):
    loop = T.make_loop(walk[30:90], root)
    steps = _pose_steps(loop)
    seam = np.linalg.norm(T._posed(loop[-1:]) - T._posed(loop[:1]))
    assert 20 <= len(loop) <= 60 and seam <= 1.5 * np.median(steps)
    x = T._posed(loop)
    v_seam, v_start = x[0] - x[-1], x[1] - x[0]  # velocity across the seam vs just after it
    assert np.linalg.norm(v_seam - v_start) <= 1.5 * np.median(np.linalg.norm(np.diff(x, 2, axis=0), axis=-1)) + 0.05
    offset = T.cycle_offset(loop)
    if root == "in_place":
        assert np.linalg.norm(offset[:2]) < 0.05
    else:
        assert np.linalg.norm(offset[:2]) > 0.5  # a walk cycle travels


@needs_data
def test_root_options(walk):
    clip = walk[30:90].rotated_about_z(0.7)
    forward = T.with_root(clip, "forward")
    a = float(clip[:1].heading()[0])
    across = np.array([np.cos(a), np.sin(a)])  # the first frame's sideways direction
    assert np.abs((forward.translation[:, :2] - forward.translation[0, :2]) @ across).max() < 1e-5
    assert np.linalg.norm(forward.translation[-1, :2] - forward.translation[0, :2]) > 1.0
    still = T.with_root(clip, "in_place")
    assert np.ptp(still.translation[:, :2], axis=0).max() == 0 and np.allclose(still.rotations, clip.rotations)
    with pytest.raises(ValueError, match="root must be one of"):
        T.with_root(clip, "sideways")


def test_a_loop_keeps_its_speed_across_the_seam():
    """The clip's own frames past the cut ease into the loop's first ones: the change of speed across the seam
    is no larger than the clip's own, where the linear correction alone stopped or started it dead."""
    frames = 90
    k = np.arange(frames)
    angle = 0.9 * np.sin(2 * np.pi * k / 47) + 0.4 * np.sin(2 * np.pi * k / 13)  # a one-off arm swing
    rotations = np.zeros((frames, 24, 4), np.float32)
    rotations[..., 0] = 1
    shoulder = T.JOINT_INDEX["left_shoulder"]
    rotations[:, shoulder, 0], rotations[:, shoulder, 1] = np.cos(angle / 2), np.sin(angle / 2)
    clip = Motion(rotations, np.zeros((frames, 3), np.float32) + [0, 0, 0.9], 30.0)

    def seam_jerk(loop):
        x = T._posed(loop)
        into, out = x[0] - x[-1], x[1] - x[0]
        return np.linalg.norm(out - into) / np.median(np.linalg.norm(np.diff(x, 2, axis=0), axis=-1))

    eased, plain = T.make_loop(clip), T.make_loop(clip, blend=0)
    assert len(eased) == len(plain)  # the same cut
    print(f"change of speed at the seam / median: eased {seam_jerk(eased):.2f}, linear only {seam_jerk(plain):.2f}")
    assert seam_jerk(eased) < 0.7 * seam_jerk(plain) and seam_jerk(eased) < 1.5  # as the clip accelerates elsewhere
