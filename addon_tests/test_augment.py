"""Skeleton-convention augmentation and phase-keeping windows for short trials."""

import numpy as np
import pytest
import torch

from motionclip_blender.core.training.augment import (
    curve_path,
    jitter_rest_frames,
    rest_frame_offsets,
    with_rest_offsets,
)
from motionclip_blender.core.training.dataset import Clip, WindowSampler
from motionclip_blender.core.motion.kinematics import forward_kinematics
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.motion.skeleton import NUM_JOINTS, PARENTS

from .test_motion import random_motion


def _world(motion: Motion) -> tuple[np.ndarray, torch.Tensor]:
    pos, world = forward_kinematics(motion.matrices(), torch.from_numpy(motion.translation))
    return pos.numpy(), world


def test_rest_offsets_turn_each_bone_and_keep_the_children_world_orientation():
    motion = random_motion(12, seed=3)
    offsets = rest_frame_offsets(10.0, np.random.default_rng(1))
    changed = with_rest_offsets(motion, offsets)
    pos, world = _world(motion)
    new_pos, new_world = _world(changed)
    # world'_j = world_j . O_j: only the joint's own frame turns, nothing it drives
    assert torch.allclose(new_world, world @ offsets[None], atol=2e-5)
    assert np.allclose(new_pos[:, 0], pos[:, 0]) and np.allclose(changed.translation, motion.translation)
    moved = np.linalg.norm(new_pos - pos, axis=-1)
    assert 0.005 < moved.mean() < 0.15, moved.mean()  # centimetres, like two conversions of one trial


def test_offsets_are_bounded_rotations_and_identity_changes_nothing():
    offsets = rest_frame_offsets(10.0, np.random.default_rng(0))
    assert offsets.shape == (NUM_JOINTS, 3, 3)
    assert torch.allclose(offsets @ offsets.transpose(-1, -2), torch.eye(3).expand(NUM_JOINTS, 3, 3), atol=1e-5)
    angles = torch.rad2deg(torch.arccos(((offsets.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)))
    assert float(angles.max()) <= 25.0 + 1e-3 and float(angles.mean()) > 3.0
    motion = random_motion(5, seed=4)
    same = with_rest_offsets(motion, torch.eye(3).expand(NUM_JOINTS, 3, 3))
    assert np.allclose(same.joint_positions(), motion.joint_positions(), atol=1e-5)
    assert jitter_rest_frames(motion, 0.0, np.random.default_rng(0)) is motion
    with pytest.raises(ValueError, match="offsets must be"):
        with_rest_offsets(motion, torch.eye(3).expand(len(PARENTS) - 1, 3, 3))


def test_twists_about_the_bones_move_no_joint_but_change_the_rotations():
    motion = random_motion(8, seed=9)
    offsets = rest_frame_offsets(0.0, np.random.default_rng(2), twist_sigma_deg=40.0)
    twisted = with_rest_offsets(motion, offsets)
    assert np.abs(twisted.joint_positions() - motion.joint_positions()).max() < 1e-5
    changed = (twisted.to_features() - motion.to_features())[:, :NUM_JOINTS].abs().amax(dim=(0, 2))
    assert int((changed > 0.05).sum()) >= 12  # most joints' 6D features differ
    assert float(changed[0]) < 1e-5  # the branching pelvis is not twisted


def test_rest_jitter_reaches_the_encoder_input_only():
    clips = [Clip("a", "walk", random_motion(200, seed=5))]
    plain = WindowSampler(clips, frames=60, mirror_prob=0, heading_prob=0, seed=2)
    jittered = WindowSampler(clips, frames=60, mirror_prob=0, heading_prob=0, seed=2,
                             rest_jitter_deg=10.0, rest_jitter_prob=1.0)
    enc_plain, target_plain, _, _ = plain.sample(1)
    enc, target, _, _ = jittered.sample(1)
    assert torch.allclose(enc_plain, target_plain, atol=1e-6)
    assert torch.allclose(target, target_plain, atol=1e-6)  # same windows, clean targets
    assert torch.allclose(enc[:, :, -1], target[:, :, -1], atol=1e-6)  # root translation untouched
    assert (enc[:, :, :-1] - target[:, :, :-1]).abs().amax() > 0.05


def test_short_trials_are_windowed_from_their_middle():
    """A 100-frame jump keeps its timing: every window starts at 20 +- 6 frames; a long trial does not."""
    jump = random_motion(100, seed=6)
    walk = random_motion(400, seed=7)
    marker = np.arange(100, dtype=np.float32)
    jump.translation[:, 0] = marker  # the window's first x tells where it started
    walk.translation[:, 0] = np.arange(400, dtype=np.float32)
    sampler = WindowSampler([Clip("j", "jump", jump), Clip("w", "walk", walk)], frames=60, min_frames=30,
                            mirror_prob=0, heading_prob=0, seed=0, centre_short_trials=True)
    starts = {"jump": [], "walk": []}
    for _ in range(300):
        clip = sampler.clips[sampler.rng.choice(2)]
        start, length = sampler._window(clip, "left")
        starts[clip.prompt].append(start)
        if clip.prompt == "jump":
            assert length == 60
    assert min(starts["jump"]) >= 14 and max(starts["jump"]) <= 26 and len(set(starts["jump"])) > 5
    assert max(starts["walk"]) > 200  # anywhere in a long trial
    uncentred = WindowSampler([Clip("j", "jump", jump)], frames=60, seed=0)
    assert max(uncentred._window(uncentred.clips[0], "left")[0] for _ in range(200)) > 30


def test_gait_windows_start_at_foot_strikes():
    """A foot that lifts 10 cm every 30 frames strikes at each return; a periodic clip's windows start only
    there (the lead foot's strikes; mirrored windows use the other foot, which becomes the left)."""
    from motionclip_blender.core.training.dataset import foot_strikes

    frames = 300
    gait = Motion.rest(frames)
    phase = np.arange(frames) % 30
    gait.translation[:, 2] += np.where(phase < 15, 0.1 * np.sin(np.pi * phase / 15), 0.0).astype(np.float32)
    strikes = foot_strikes(gait, "left")
    # touchdown = back within 4 cm of the floor: 0.1 sin(pi p / 15) < 0.04 first at p = 14 of each cycle
    assert list(strikes) == list(range(14, frames, 30))
    assert len(foot_strikes(Motion.rest(frames), "left")) == 0  # never lifted: no strike
    sampler = WindowSampler([Clip("g", "walk", gait, periodic=True)], frames=60, mirror_prob=0, heading_prob=0,
                            seed=0, phase_align=True)
    starts = {sampler._window(sampler.clips[0], "left")[0] for _ in range(100)}
    assert starts <= set(strikes) and len(starts) >= 5
    free = WindowSampler([Clip("g", "walk", gait, periodic=False)], frames=60, seed=0, phase_align=True)
    assert not {free._window(free.clips[0], "left")[0] for _ in range(100)} <= set(strikes)


def test_text_is_drawn_from_the_clips_phrasings():
    clip = Clip("w", "walk", Motion.rest(80), texts=("walk", "a man walks", "someone strolls along"))
    sampler = WindowSampler([clip], frames=60, mirror_prob=0, heading_prob=0, seed=0, vary_text=True)
    assert set(sampler.sample(60)[3]) == set(clip.texts)
    assert set(sampler.prompts()) == set(clip.texts)
    plain = WindowSampler([clip], frames=60, mirror_prob=0, heading_prob=0, seed=0)
    assert set(plain.sample(20)[3]) == {"walk"}


def test_a_curved_path_turns_at_the_rate_and_keeps_pose_height_and_speed():
    n, fps, rate = 61, 30.0, np.radians(45.0)
    straight = Motion.rest(n, fps)
    straight.translation[:, 1] = -np.arange(n, dtype=np.float32) / fps  # 1 m/s toward -Y (facing)
    straight.translation[:, 2] += 0.9
    curved = curve_path(straight, rate)
    turn = np.unwrap(curved.heading() - straight.heading())
    assert turn[0] == pytest.approx(0, abs=1e-4) and turn[-1] == pytest.approx(rate * 2.0, abs=2e-3)  # 90 deg in 2 s
    speeds = np.linalg.norm(np.diff(curved.translation[:, :2], axis=0), axis=-1) * fps
    assert np.allclose(speeds, 1.0, atol=1e-4)
    radius = 1.0 / rate  # an arc of radius speed / rate: its 90-degree chord is 2 r sin(45 deg)
    chord = np.linalg.norm(curved.translation[-1, :2] - curved.translation[0, :2])
    assert chord == pytest.approx(2 * radius * np.sin(rate * 2.0 / 2), rel=0.01)
    assert np.allclose(curved.translation[:, 2], straight.translation[:, 2])
    assert np.allclose(curved.rotations[:, 1:], straight.rotations[:, 1:])  # every local pose kept
    assert np.allclose(curve_path(straight, 0.0).translation, straight.translation, atol=1e-6)


def test_the_sampler_bends_targets_and_inputs_alike_only_when_asked():
    clips = [Clip("a", "walk", random_motion(200, seed=5))]
    plain = WindowSampler(clips, frames=60, mirror_prob=0, heading_prob=0, seed=2)
    curved = WindowSampler(clips, frames=60, mirror_prob=0, heading_prob=0, seed=2, curve_prob=1.0,
                           curve_max_deg_s=60.0)
    off = WindowSampler(clips, frames=60, mirror_prob=0, heading_prob=0, seed=2, curve_prob=0.0,
                        curve_max_deg_s=60.0)
    _, target_plain, _, _ = plain.sample(2)
    enc, target, _, _ = curved.sample(2)
    assert torch.allclose(enc, target, atol=1e-6)  # the bent window is the motion itself, for both sides
    assert (target[:, :, 0] - target_plain[:, :, 0]).abs().amax() > 0.05  # the pelvis turned
    assert torch.allclose(target[:, :, 1:-1], target_plain[:, :, 1:-1], atol=1e-6)  # the rest of the pose did not
    again = WindowSampler(clips, frames=60, mirror_prob=0, heading_prob=0, seed=2)
    again.sample(2)
    plain_next = again.sample(2)[1]
    off.sample(2)
    assert torch.allclose(off.sample(2)[1], plain_next)  # off draws nothing: a resumed old run samples alike
