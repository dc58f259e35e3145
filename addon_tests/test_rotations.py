"""Property tests for the rotation conversions and forward kinematics."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.motion.kinematics import forward_kinematics, world_to_local
from motionclip_blender.core.motion.skeleton import PARENTS, REST_OFFSETS, rest_joint_positions

finite = st.floats(-4.0, 4.0, allow_nan=False, width=32)
axis_angles = arrays(np.float32, (16, 3), elements=finite).map(torch.from_numpy)


def _is_rotation(m: torch.Tensor, tol=1e-5) -> bool:
    eye = torch.eye(3).expand_as(m)
    return bool(torch.allclose(m @ m.transpose(-1, -2), eye, atol=tol)) and bool(
        torch.allclose(torch.linalg.det(m), torch.ones(m.shape[:-2]), atol=tol))


@settings(max_examples=60, deadline=None)
@given(axis_angles)
def test_matrix_quaternion_round_trip(aa):
    m = R.axis_angle_to_matrix(aa)
    assert _is_rotation(m)
    assert torch.allclose(R.quaternion_to_matrix(R.matrix_to_quaternion(m)), m, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(axis_angles)
def test_axis_angle_round_trip_through_matrix(aa):
    m = R.axis_angle_to_matrix(aa)
    back = R.axis_angle_to_matrix(R.matrix_to_axis_angle(m))
    assert torch.allclose(back, m, atol=1e-4)
    assert (torch.linalg.norm(R.matrix_to_axis_angle(m), dim=-1) <= math.pi + 1e-4).all()


@settings(max_examples=60, deadline=None)
@given(axis_angles)
def test_6d_round_trip_and_orthonormal(aa):
    m = R.axis_angle_to_matrix(aa)
    assert torch.allclose(R.rot6d_to_matrix(R.matrix_to_rot6d(m)), m, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (6,), elements=st.floats(-10, 10, width=32)).filter(
    lambda a: np.linalg.norm(np.cross(a[:3], a[3:])) > 1e-2 * max(1.0, np.linalg.norm(a) ** 2)))


def test_any_6d_vector_gives_a_proper_rotation(d6):
    assert _is_rotation(R.rot6d_to_matrix(torch.from_numpy(d6)[None]), tol=1e-4)


@pytest.mark.parametrize("order", ["XYZ", "ZYX", "ZXY", "YXZ", "XZY", "YZX"])
def test_euler_round_trip(order):
    m = R.axis_angle_to_matrix(torch.randn(500, 3, generator=torch.Generator().manual_seed(1)) * 2)
    assert torch.allclose(R.euler_to_matrix(R.matrix_to_euler(m, order), order), m, atol=1e-4)


def test_euler_order_matches_composition():
    angles = torch.tensor([[0.3, -0.7, 1.1]])
    rz, ry, rx = (R.axis_rotation(a, angles[:, i]) for i, a in enumerate("ZYX"))
    assert torch.allclose(R.euler_to_matrix(angles, "ZYX"), rz @ ry @ rx, atol=1e-6)


def test_stable_at_zero_and_pi_with_gradients():
    aa = torch.tensor([[0.0, 0.0, 0.0], [math.pi, 0.0, 0.0], [0.0, 1e-9, 0.0], [0.0, 0.0, -math.pi]],
                      requires_grad=True)
    m = R.axis_angle_to_matrix(aa)
    q = R.matrix_to_quaternion(m)
    back = R.quaternion_to_axis_angle(q)
    (m.sum() + q.sum() + back.sum()).backward()
    for t in (m, q, back, aa.grad):
        assert torch.isfinite(t).all()
    assert torch.allclose(m[1], torch.diag(torch.tensor([1.0, -1.0, -1.0])), atol=1e-6)
    assert torch.allclose(torch.linalg.norm(back[1]), torch.tensor(math.pi), atol=1e-5)


def test_slerp_endpoints_and_midpoint():
    a = R.axis_angle_to_quaternion(torch.tensor([[0.0, 0.0, 0.0]]))
    b = R.axis_angle_to_quaternion(torch.tensor([[0.0, 0.0, 1.2]]))
    assert torch.allclose(R.quaternion_slerp(a, b, 0.0), a, atol=1e-6)
    assert torch.allclose(R.quaternion_slerp(a, b, 1.0), b, atol=1e-6)
    mid = R.quaternion_to_axis_angle(R.quaternion_slerp(a, b, 0.5))
    assert torch.allclose(mid, torch.tensor([[0.0, 0.0, 0.6]]), atol=1e-5)
    # shortest path: -b is the same rotation
    assert torch.allclose(R.quaternion_slerp(a, -b, 0.5).abs(), R.quaternion_slerp(a, b, 0.5).abs(), atol=1e-6)


def test_rotation_between_maps_directions_including_antiparallel():
    a = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0.3, -0.2, 0.9]])
    b = torch.tensor([[0, 1.0, 0], [0, 0, -1.0], [0.3, -0.2, 0.9]])
    m = R.rotation_between(a, b)
    assert _is_rotation(m)
    unit = torch.nn.functional.normalize
    assert torch.allclose((m @ unit(a, dim=-1)[..., None])[..., 0], unit(b, dim=-1), atol=1e-5)


def test_fk_rest_pose_matches_offsets_and_bone_lengths_are_preserved():
    rest = torch.eye(3).repeat(24, 1, 1)
    pos, _ = forward_kinematics(rest, torch.zeros(3))
    assert np.allclose(pos.numpy(), rest_joint_positions(), atol=1e-6)
    rot = R.axis_angle_to_matrix(torch.randn(5, 24, 3, generator=torch.Generator().manual_seed(0)))
    posed, world = forward_kinematics(rot, torch.randn(5, 3))
    for j, p in enumerate(PARENTS):
        if p >= 0:
            lengths = torch.linalg.norm(posed[:, j] - posed[:, p], dim=-1)
            assert torch.allclose(lengths, torch.tensor(np.linalg.norm(REST_OFFSETS[j])).float(), atol=1e-5)
    assert torch.allclose(world_to_local(world), rot, atol=1e-5)


def test_fk_known_pose_elbow_bend():
    rot = torch.eye(3).repeat(24, 1, 1)
    # bend the left shoulder 90 degrees about -Y... the arm (pointing +X) must then point along +Z or -Z
    rot[16] = R.axis_rotation("Y", torch.tensor(-math.pi / 2))
    pos, _ = forward_kinematics(rot, torch.zeros(3))
    arm = pos[18] - pos[16]
    assert abs(float(arm[2])) > 0.9 * float(torch.linalg.norm(arm))


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 5e-6)])
def test_euler_round_trip_near_gimbal_lock(dtype, tolerance):
    """Middle angles within 0.06 deg of +-90 deg (a BVH elbow bent square, in ZYX) and exactly at it: the
    angles give back the matrix (the old sine threshold folded the last angle away there: 1.5e-3 of error)."""
    torch.manual_seed(1)
    for order in ("XYZ", "ZYX", "YXZ", "ZXY", "YZX", "XZY"):
        angles = (torch.rand(500, 3, dtype=dtype) - 0.5) * 2 * math.pi
        angles[:250, 1] = math.pi / 2 - torch.rand(250, dtype=dtype) * 1e-3
        angles[250:, 1] = -math.pi / 2
        m = R.euler_to_matrix(angles, order)
        assert (R.euler_to_matrix(R.matrix_to_euler(m, order), order) - m).abs().max() < tolerance, order
