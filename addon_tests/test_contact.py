"""Foot contact clean-up on synthetic motions with known contacts: sliding feet get planted, flight phases
and hands stay as they were, nothing ends under the floor, the leg IK reaches exactly."""

import numpy as np
import pytest
import torch

from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.motion.contact import (
    LEGS,
    ContactOptions,
    _fk,
    _solve_leg,
    clean_feet,
    detect_contacts,
    foot_speeds,
)
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.motion.skeleton import JOINT_INDEX as J

HANDS_HEAD = [J["left_wrist"], J["right_wrist"], J["head"]]


def _bent_knees(frames: int, angle: float = 0.35) -> Motion:
    """Standing with the hips flexed and knees bent by ``angle`` (rad), on the floor."""
    m = Motion.rest(frames)
    hip = R.axis_angle_to_quaternion(torch.tensor([[-angle / 2, 0.0, 0.0]]))[0].numpy()
    knee = R.axis_angle_to_quaternion(torch.tensor([[angle, 0.0, 0.0]]))[0].numpy()
    ankle = R.axis_angle_to_quaternion(torch.tensor([[-angle / 2, 0.0, 0.0]]))[0].numpy()
    for side in ("left", "right"):
        m.rotations[:, J[f"{side}_hip"]] = hip
        m.rotations[:, J[f"{side}_knee"]] = knee
        m.rotations[:, J[f"{side}_ankle"]] = ankle
    lowest = m.joint_positions()[:, :, 2].min()
    m.translation[:, 2] -= lowest
    return Motion(m.rotations, m.translation, m.fps)


def test_a_sliding_stance_becomes_planted():
    m = _bent_knees(40)
    m.translation[:, 1] -= np.linspace(0, 0.12, 40, dtype=np.float32)  # the whole body glides 12 cm forward
    before = m.joint_positions()
    contacts = detect_contacts(before.astype(np.float64), m.fps)
    assert contacts["left"].all() and contacts["right"].all()
    cleaned = clean_feet(m)
    after = cleaned.joint_positions()
    for side in LEGS:
        ankle = LEGS[side][2]
        assert np.ptp(before[:, ankle, 1]) > 0.11  # it slid ...
        assert np.linalg.norm(after[:, ankle, :2] - after[0, ankle, :2], axis=-1).max() < 0.005  # ... now it stays
        assert foot_speeds(after.astype(np.float64), side, m.fps).max() < 0.1
    # the body still travels: the pelvis path is kept horizontally
    assert np.allclose(after[:, 0, :2], before[:, 0, :2], atol=1e-4)


def test_a_flight_phase_stays_untouched_and_landings_are_on_the_floor():
    m = _bent_knees(50)
    lift = np.zeros(50, np.float32)
    lift[15:30] = 0.25 * np.sin(np.linspace(0, np.pi, 15))  # up 25 cm and down again
    m.translation[:, 2] += lift - 0.03  # and the stance frames sink 3 cm into the floor
    before = m.joint_positions()
    cleaned = clean_feet(m)
    after = cleaned.joint_positions()
    flight = slice(19, 27)  # both feet far above the floor, away from the pins' fade
    assert before[flight][:, [J["left_ankle"], J["right_ankle"]], 2].min() > 0.1
    shift = float(np.median(after[:, 0, 2] - before[:, 0, 2]))  # the one grounding shift (3 cm up)
    assert abs(shift - 0.03) < 0.005
    moved = np.abs(after[flight][:, HANDS_HEAD] - before[flight][:, HANDS_HEAD] - [0, 0, shift]).max()
    assert moved < 0.01
    assert after[:, :, 2].min() > -1e-4  # nothing under the floor
    depth = np.clip(-after[:, :, 2].min(axis=1), 0, None)
    assert depth.mean() < 0.002


def test_every_joint_ends_above_the_floor():
    m = _bent_knees(20)
    m.translation[10:, 2] -= 0.2  # half the clip 20 cm deep
    after = clean_feet(m).joint_positions()
    assert after[:, :, 2].min() > -1e-4


@pytest.mark.parametrize("side", ["left", "right"])
def test_two_bone_ik_reaches_and_keeps_the_foot_orientation(side):
    m = _bent_knees(5, angle=0.6)
    pos, world, local = _fk(m)
    hip, knee, ankle, _ = LEGS[side]
    target = pos[:, ankle] + np.array([0.05, -0.08, 0.06])
    _solve_leg(pos, world, local, side, target, np.arange(5))
    solved = Motion.from_matrices(local, m.translation, m.fps)
    new_pos, new_world, _ = _fk(solved)
    assert np.linalg.norm(new_pos[:, ankle] - target, axis=-1).max() < 1e-3
    rel = np.swapaxes(new_world[:, ankle], -1, -2) @ world[:, ankle]
    angle = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    assert angle.max() < 1e-3  # the foot keeps its world orientation
    # the knee stays in front of the hip-ankle line (it bends the way it bent)
    assert (new_pos[:, knee, 1] < new_pos[:, ankle, 1]).all()


def test_thresholds_have_hysteresis():
    m = _bent_knees(30)
    m.translation[:, 2] += np.where(np.arange(30) < 10, 0.0, 0.045).astype(np.float32)  # between on and off
    down = detect_contacts(m.joint_positions().astype(np.float64), m.fps, ContactOptions())
    assert down["left"].all()  # touched down at 0, stays down at 4.5 cm (< 6 cm off)
    m2 = _bent_knees(30)
    m2.translation[:, 2] += 0.045
    assert not detect_contacts(m2.joint_positions().astype(np.float64), m2.fps)["left"].any()  # never under 3 cm


def _stepping_positions(travel: float, low: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Rest-pose joint positions over 40 frames in which the right foot is down for frames 0-9 and 26-39
    and slides ``travel`` m forward in between, ``low`` m off the floor (a scraping step); -> (pos, down)."""
    from motionclip_blender.core.motion.skeleton import rest_joint_positions

    pos = np.repeat(rest_joint_positions()[None].astype(np.float64), 40, axis=0)
    pos[:, :, 2] -= pos[0, :, 2].min()  # soles on the floor
    _, _, ankle, toe = LEGS["right"]
    forward = np.concatenate([np.zeros(10), np.linspace(0, travel, 16), np.full(14, travel)])
    raised = np.zeros(40)
    raised[10:26] = low
    for j in (ankle, toe):
        pos[:, j, 1] -= forward  # the character faces -Y
        pos[:, j, 2] += raised
    down = np.ones(40, bool)
    down[10:26] = False
    return pos, down


def test_a_scraping_step_is_lifted_to_the_swing_envelope_and_a_shuffle_is_not():
    from motionclip_blender.core.motion.contact import _swing_lift, foot_heights

    pos, down = _stepping_positions(travel=0.4)
    lift = _swing_lift(pos, "right", down, clearance=0.10, min_step=0.15)
    assert (lift[down] == 0).all()  # contacts untouched
    height = foot_heights(pos, "right")
    mid = 17  # the middle of the swing (frames 10-25)
    assert abs(height[mid] + lift[mid] - 0.10 * np.sqrt(np.sin(np.pi * (mid - 9) / 17))) < 1e-9
    assert (height[10:26] + lift[10:26]).max() > 0.095 and lift[10] < lift[mid] > lift[25]
    shuffle, down = _stepping_positions(travel=0.08)
    assert not _swing_lift(shuffle, "right", down, clearance=0.10, min_step=0.15).any()
    high, down = _stepping_positions(travel=0.4, low=0.2)  # a step already clearing the envelope
    assert not _swing_lift(high, "right", down, clearance=0.10, min_step=0.15).any()
    assert not _swing_lift(pos, "right", _stepping_positions(0.4)[1], clearance=0.0, min_step=0.15).any()


def _one_foot_up(left_up: float, right_travel: float, right_up: float = 0.2) -> np.ndarray:
    """Rest-pose joint positions, 60 frames, both feet down except frames 20-39: the left foot held
    ``left_up`` m up, the right foot ``right_up`` m up travelling ``right_travel`` m forward."""
    from motionclip_blender.core.motion.skeleton import rest_joint_positions

    pos = np.repeat(rest_joint_positions()[None].astype(np.float64), 60, axis=0)
    pos[:, :, 2] -= pos[0, :, 2].min()
    for j in LEGS["left"][2:]:
        pos[20:40, j, 2] += left_up
    for j in LEGS["right"][2:]:
        pos[20:40, j, 2] += right_up
        pos[20:40, j, 1] -= np.linspace(0, right_travel, 20)
        pos[40:, j, 1] -= right_travel
    return pos


def test_a_floating_stance_joins_the_contacts_and_a_raised_foot_does_not():
    from motionclip_blender.core.motion.contact import floating_stances

    walk = _one_foot_up(left_up=0.08, right_travel=0.8)  # the right foot swings at 1.2 m/s
    down = detect_contacts(walk, 30.0)
    assert not down["left"][22:38].any()  # 8 cm up: too high for the height rule
    sink = floating_stances(walk, 30.0, down)
    assert down["left"][21:40].all() and np.allclose(sink["left"][26:35], 0.08)  # (20: the jump up)
    assert (np.diff(sink["left"][21:27]) >= 0).all() and sink["left"][21:40].min() > 0  # eased in, never off
    assert not sink["right"].any() and not sink["left"][:16].any()  # (16-19: easing into the stance)
    balance = _one_foot_up(left_up=0.08, right_travel=0.0, right_up=0.0)  # the right foot stands
    down = detect_contacts(balance, 30.0)
    assert not floating_stances(balance, 30.0, down)["left"].any() and not down["left"][22:38].any()
    hop = _one_foot_up(left_up=0.08, right_travel=0.0, right_up=0.08)  # both up together
    down = detect_contacts(hop, 30.0)
    assert not any(s.any() for s in floating_stances(hop, 30.0, down).values())
    off = _one_foot_up(left_up=0.08, right_travel=0.8)
    assert not floating_stances(off, 30.0, detect_contacts(off, 30.0), ContactOptions(float_height=0))["left"].any()


def test_clean_feet_puts_a_floating_stance_on_the_floor():
    m = _bent_knees(60)
    right_hip, right_knee = J["right_hip"], J["right_knee"]
    t = np.arange(20) / 30.0
    swing = R.axis_angle_to_quaternion(torch.tensor(np.stack(
        [-0.35 - 0.5 * np.sin(2 * np.pi * 2 * t), 0 * t, 0 * t], -1), dtype=torch.float32)).numpy()
    m.rotations[20:40, right_hip] = swing  # the right leg swings ...
    m.rotations[20:40, right_knee] = R.axis_angle_to_quaternion(torch.tensor([[1.2, 0.0, 0.0]]))[0].numpy()
    m.translation[20:40, 2] += 0.07  # ... while the still left foot floats 7 cm up
    before = m.joint_positions()
    left_ankle = J["left_ankle"]
    assert before[25:35, left_ankle, 2].min() - before[0, left_ankle, 2] > 0.065
    after = clean_feet(m).joint_positions()
    assert np.abs(after[24:36, left_ankle, 2] - before[0, left_ankle, 2]).max() < 0.01  # on the floor
    assert np.linalg.norm(after[24:36, left_ankle, :2] - before[24:36, left_ankle, :2], axis=-1).max() < 0.01


def test_a_floating_stance_that_follows_a_contact_eases_down():
    from motionclip_blender.core.motion.contact import floating_stances

    pos = _one_foot_up(left_up=0.0, right_travel=0.8)
    lift = np.concatenate([np.zeros(10), np.linspace(0, 0.055, 10), np.linspace(0.065, 0.08, 20), np.zeros(20)])
    for j in LEGS["left"][2:]:
        pos[:, j, 2] += lift  # rising slowly: in contact (hysteresis) up to frame 19, floating from 20
    down = detect_contacts(pos, 30.0)
    assert down["left"][19] and not down["left"][20]
    sink = floating_stances(pos, 30.0, down)["left"]
    assert down["left"][20:40].all()
    assert abs(sink[30] - 0.065) < 1e-6
    target = lift - sink  # where the pins put the ankle, relative to where it was
    assert np.abs(np.diff(target[12:34])).max() < 0.015  # no drop where the contact ends (unsmoothed: 6.5 cm)
