"""Batched rotation conversions in torch: axis-angle, quaternion (w, x, y, z), matrix, 6D.

Written here rather than imported because pytorch3d (the usual source, which MotionCLIP copies) has no
wheels for current torch on CPU, and the set below is small. Conventions follow pytorch3d so that the
official MotionCLIP checkpoints read our features: the 6D representation is the first two *rows* of
the matrix, quaternions are (w, x, y, z) as in Blender, matrices act on column vectors.
Every function is stable at 0 and pi (no NaN in values or gradients at those points).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-8


def _sinc_half(angle: torch.Tensor) -> torch.Tensor:
    """sin(angle/2)/angle, with its Taylor series near 0."""
    small = angle.abs() < 1e-4
    safe = torch.where(small, torch.ones_like(angle), angle)
    return torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(safe / 2) / safe)


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)
    return torch.cat([torch.cos(angle / 2), axis_angle * _sinc_half(angle)], dim=-1)


def quaternion_to_axis_angle(quat: torch.Tensor) -> torch.Tensor:
    quat = standardize_quaternion(quat)
    sin_half = torch.linalg.norm(quat[..., 1:], dim=-1, keepdim=True)
    half = torch.atan2(sin_half, quat[..., :1])
    angle = 2 * half
    small = sin_half < 1e-6
    # angle / sin(angle/2) -> 2 as angle -> 0
    safe = torch.where(small, torch.ones_like(sin_half), sin_half)
    scale = torch.where(small, 2.0 + angle * angle / 12.0, angle / safe)
    return quat[..., 1:] * scale


def standardize_quaternion(quat: torch.Tensor) -> torch.Tensor:
    """Unit quaternion with a non-negative real part (q and -q are the same rotation)."""
    quat = F.normalize(quat, dim=-1, eps=_EPS)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def quaternion_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    w, x, y, z = F.normalize(quat, dim=-1, eps=_EPS).unbind(-1)
    two = 2.0
    m = torch.stack([
        1 - two * (y * y + z * z), two * (x * y - z * w), two * (x * z + y * w),
        two * (x * y + z * w), 1 - two * (x * x + z * z), two * (y * z - x * w),
        two * (x * z - y * w), two * (y * z + x * w), 1 - two * (x * x + y * y),
    ], dim=-1)
    return m.reshape(quat.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Shepperd's method: pick the best-conditioned of four candidates per rotation."""
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    traces = torch.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22,
    ], dim=-1)
    root = torch.sqrt(torch.clamp(traces, min=_EPS))  # = 4 * |component| / 2
    m21_12 = m[..., 2, 1] - m[..., 1, 2]
    m02_20 = m[..., 0, 2] - m[..., 2, 0]
    m10_01 = m[..., 1, 0] - m[..., 0, 1]
    m10p01 = m[..., 1, 0] + m[..., 0, 1]
    m02p20 = m[..., 0, 2] + m[..., 2, 0]
    m21p12 = m[..., 2, 1] + m[..., 1, 2]
    candidates = torch.stack([
        torch.stack([root[..., 0] ** 2, m21_12, m02_20, m10_01], dim=-1) / (2 * root[..., 0:1]),
        torch.stack([m21_12, root[..., 1] ** 2, m10p01, m02p20], dim=-1) / (2 * root[..., 1:2]),
        torch.stack([m02_20, m10p01, root[..., 2] ** 2, m21p12], dim=-1) / (2 * root[..., 2:3]),
        torch.stack([m10_01, m02p20, m21p12, root[..., 3] ** 2], dim=-1) / (2 * root[..., 3:4]),
    ], dim=-2)
    best = traces.argmax(dim=-1)
    quat = torch.gather(candidates, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    return standardize_quaternion(quat)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """First two rows, flattened (pytorch3d / MotionCLIP convention)."""
    return matrix[..., :2, :].reshape(matrix.shape[:-2] + (6,))


def rot6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt on the two rows (Zhou et al. 2019); any 6-vector maps to a proper rotation."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1, eps=_EPS)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=_EPS)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-2)


def quaternion_slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Shortest-path spherical interpolation; t broadcasts against the batch shape."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() < a.dim():
        t = t.reshape(t.shape + (1,) * (a.dim() - t.dim()))
    a = F.normalize(a, dim=-1, eps=_EPS)
    b = F.normalize(b, dim=-1, eps=_EPS)
    dot = (a * b).sum(-1, keepdim=True)
    b = torch.where(dot < 0, -b, b)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-4
    safe = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    wa = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / safe)
    wb = torch.where(near, t, torch.sin(t * theta) / safe)
    return F.normalize(wa * a + wb * b, dim=-1, eps=_EPS)


_AXES = {"X": 0, "Y": 1, "Z": 2}


def axis_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rows = {
        "X": (one, zero, zero, zero, c, -s, zero, s, c),
        "Y": (c, zero, s, zero, one, zero, -s, zero, c),
        "Z": (c, -s, zero, s, c, zero, zero, zero, one),
    }[axis]
    return torch.stack(rows, dim=-1).reshape(angle.shape + (3, 3))


def euler_to_matrix(angles: torch.Tensor, order: str) -> torch.Tensor:
    """Intrinsic Euler angles (radians) in ``order`` (e.g. "ZYX" as BVH channels are listed):
    R = R[order[0]] @ R[order[1]] @ R[order[2]]."""
    if len(order) != 3 or any(a not in _AXES for a in order.upper()):
        raise ValueError(f"Euler order must be three of X, Y, Z, got {order!r}")
    mats = [axis_rotation(ax, angles[..., i]) for i, ax in enumerate(order.upper())]
    return mats[0] @ mats[1] @ mats[2]


def matrix_to_euler(matrix: torch.Tensor, order: str) -> torch.Tensor:
    """Inverse of :func:`euler_to_matrix` for Tait-Bryan orders (all axes distinct)."""
    order = order.upper()
    i, j, k = (_AXES[a] for a in order)
    if len({i, j, k}) != 3:
        raise ValueError(f"only Tait-Bryan orders are supported, got {order!r}")
    # sign of the permutation (i, j, k): +1 for cyclic orders XYZ, YZX, ZXY
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    m = matrix
    cos_middle = torch.hypot(m[..., i, i], m[..., i, j])
    middle = torch.atan2(sign * m[..., i, k], cos_middle)  # atan2, not asin: exact near +-90 deg
    first = torch.atan2(-sign * m[..., j, k], m[..., k, k])
    last = torch.atan2(-sign * m[..., i, j], m[..., i, i])
    # gimbal lock only where the first and last angles are lost in rounding (a threshold on the sine, as
    # before, folded angles within 0.08 deg of the lock and left 1.5e-3 of error in the matrix)
    locked = cos_middle < (1e-6 if m.dtype == torch.float32 else 1e-12)
    first_locked = torch.atan2(sign * m[..., k, j], m[..., j, j])
    first = torch.where(locked, first_locked, first)
    last = torch.where(locked, torch.zeros_like(last), last)
    return torch.stack([first, middle, last], dim=-1)


def rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest rotation matrix taking direction a onto direction b (antiparallel: 180 deg about a
    perpendicular axis)."""
    a = F.normalize(a, dim=-1, eps=_EPS)
    b = F.normalize(b, dim=-1, eps=_EPS)
    dot = (a * b).sum(-1, keepdim=True)
    quat = torch.cat([1 + dot, torch.cross(a, b, dim=-1)], dim=-1)
    # antiparallel: any axis perpendicular to a
    helper = torch.where(a[..., :1].abs() < 0.9, a.new_tensor([1.0, 0, 0]), a.new_tensor([0, 1.0, 0]))
    perp = F.normalize(torch.cross(a, helper.expand_as(a), dim=-1), dim=-1, eps=_EPS)
    flip = torch.cat([torch.zeros_like(dot), perp], dim=-1)
    quat = torch.where(dot < -1 + 1e-6, flip, quat)
    return quaternion_to_matrix(quat)
