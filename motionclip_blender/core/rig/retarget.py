"""Retargeting math between the SMPL skeleton (a core Motion) and any mapped armature, both ways.

Everything happens in the target's *armature space*: Blender hands us bone rest matrices there
(``bone.matrix_local``), pose channels are relative to them, and the object's transform enters once, as the
rotation K taking the SMPL frame (Z up, left +X, facing -Y) into armature space.

Frames. K is built from two triads: world up (+Z, brought into armature space through the object rotation,
so a Y-up rig whose object is turned 90° about X still stands up) and the rig's rest "left" (left minus
right hip plus left minus right shoulder, made horizontal). The same triad built on SMPL's rest joints makes
K exact for the SMPL rig itself (K = I, a pure change of basis, no drift on round trips).

Rotations (per mapped bone b driven by SMPL joint j; D = world delta from the rest pose, armature space).
u_j is SMPL's rest direction of j (towards its primary child, or the leaf tip) and t_b the target's rest
direction between the *mapped* joints (towards the head of the bone mapped to j's child, else the bone's own
Y axis). C_b = rotation_between(K·u_j, t_b) is what turns SMPL's rest onto the rig's rest (T-pose vs SMPL's
slightly lowered arms, A-pose, leaning necks). With G_j the SMPL world rotation from FK:

    D_b = K·G_j·Kᵀ · C_bᵀ        so   D_b·t_b = K·G_j·u_j      (the posed directions agree)

and identity motion puts the rig in SMPL's rest pose, as it must. Blender evaluates a pose bone as
P_b = P_p·R_p⁻¹·R_b·B_b (R: rest, B: pose channels), and P_b = D_b·R_b for every bone, so

    B_b = R_bᵀ · (D_pᵀ·D_b) · R_b

where an unmapped bone takes D_b = D_p (B = I: twist segments and extra spine bones follow their parent).
The reverse inverts the same relation: G_j = Kᵀ·D_b·C_b·K with D_b = P_b·R_bᵀ read from the evaluated pose.

Reference pose. All of the above measures the rig against a *reference* pose: its rest pose when that is a
standing body, else a standing frame of its animation (an iClone CC rig rests with its legs up and stands in
its T-pose frame 0): ``find_rig_reference``, the mocap importer's rules. With Q_b the reference matrices and
E_b = Q_b·R_bᵀ, D_b above becomes the delta from the reference, and the delta from rest is D_b·E_b.

Root. The pelvis position is scaled by the ratio of standing hip heights (pelvis above the ankles, along up,
which also converts units: a 100× rig gets 100× the translation) and anchored so that SMPL's standing root
lands on the rig's rest pelvis: p = A + s·K·t with A = head_pelvis − s·K·(0, 0, SMPL standing height).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from ..motion import rotations as R
from ..motion.kinematics import forward_kinematics, world_to_local
from ..motion.motion import Motion
from .presets import missing_required
from ..motion.skeleton import (
    JOINT_INDEX,
    JOINT_NAMES,
    NUM_JOINTS,
    PARENTS,
    PRIMARY_CHILD,
    REST_OFFSETS,
    leaf_tip,
    rest_pelvis_height,
)

from ..motion.heading import heading_from_left, left_vector
from ..motion.quaternions import sign_continuous
from .frames import (
    _ANKLES,
    _FEET,
    _SMPL_FRAME,
    _SMPL_POS,
    _SMPL_STANDING,
    ROOT_MODES,
    PoseChannels,
    RetargetError,
    RigRest,
    _body_up,
    _rot_between,
    _standing_height,
    _triad,
    _unit,
)


class Retargeter:
    """One rig and its bone map: SMPL Motion -> pose channels (``to_rig``) and posed bones -> Motion
    (``from_rig``). Raises RetargetError for maps missing required joints or rigs without a usable frame.
    ``reference``: armature-space pose matrices (B, 4, 4) of a standing pose when the rest pose is not one
    (``find_rig_reference``); None measures against the rest pose. ``floor``: where SMPL's floor lands, along
    up in armature units (None: from the rest pose, see ``_anchor``)."""

    def __init__(self, rig: RigRest, bone_map: Mapping[str, str], reference: np.ndarray | None = None,
                 floor: float | None = None):
        missing = missing_required(bone_map)
        if missing:
            raise RetargetError("missing required joints: " + ", ".join(missing))
        index = {n: i for i, n in enumerate(rig.names)}
        unknown = [b for b in bone_map.values() if b not in index]
        if unknown:
            raise RetargetError("bones not in the armature: " + ", ".join(unknown))
        self.rig = rig
        self.bone_map = {j: bone_map[j] for j in JOINT_NAMES if j in bone_map}
        self.joint_bone = {JOINT_INDEX[j]: index[b] for j, b in self.bone_map.items()}  # smpl joint -> bone idx
        self.rest_rot = rig.rest[:, :3, :3]
        self.rest_heads = rig.rest[:, :3, 3]
        ref = rig.rest if reference is None else np.asarray(reference, np.float64)
        if ref.shape != rig.rest.shape or not np.isfinite(ref).all():
            raise RetargetError(f"the reference pose must be finite ({len(rig.names)}, 4, 4) matrices, got {ref.shape}")
        self.ref_rot = ref[:, :3, :3] / np.linalg.norm(ref[:, :3, :3], axis=-2, keepdims=True)
        self.heads = ref[:, :3, 3]  # every rest measurement (frame, scale, floor, directions) is taken here
        self.from_rest = self.ref_rot @ np.swapaxes(self.rest_rot, -1, -2)  # E_b: reference relative to rest

        m3 = rig.object_matrix[:3, :3]
        det = np.linalg.det(m3)
        if det <= 1e-12:
            raise RetargetError("the armature object's transform is mirrored or flat (negative or zero scale)")
        self.object_scale = det ** (1.0 / 3.0)
        up = (m3 / self.object_scale).T @ np.array([0.0, 0.0, 1.0])  # world up in armature space
        heads = {JOINT_NAMES[j]: self.heads[b] for j, b in self.joint_bone.items()}
        self.world_up = up
        up = _body_up(heads, up)
        left = left_vector(heads)
        if np.linalg.norm(left - (left @ up) * up) < 1e-6 * max(np.linalg.norm(left), 1e-12) or \
                np.linalg.norm(left) < 1e-9:
            raise RetargetError("cannot tell the rig's left from its right (hips and shoulders coincide "
                                "or are vertical): check the bone map")
        self.K = _triad(left, up) @ _SMPL_FRAME.T
        # hip height along up, armature units
        pelvis = self.heads[self.joint_bone[0]]
        ankles = np.mean([self.heads[self.joint_bone[JOINT_INDEX[a]]] for a in _ANKLES], axis=0)
        hip_height = float((pelvis - ankles) @ _unit(up))
        if hip_height <= 0:
            raise RetargetError("the rig's pelvis is not above its ankles in its reference pose (upside down, "
                                "a rest pose that is no standing body, or a wrong map)")
        # Scale from the standing hip height, with the legs counted by their length (hip -> knee -> ankle) so a
        # reference taken from the animation with its knees bent still measures it standing (its 4 % lower hip
        # put 12 cm of drift into a 2-s walk read back); a straight standing rest measures the same as before.
        self.scale = _standing_height(self.heads, self.joint_bone, _unit(up)) / _SMPL_STANDING
        self.anchor = self._anchor(_unit(up), hip_height, floor)
        self._directions()
        self.warnings = self._sanity(heads, up)

    def _anchor(self, up: np.ndarray, hip_height: float, floor: float | None) -> np.ndarray:
        """Where SMPL's origin lands. Horizontally SMPL's standing pelvis lands on the
        reference pelvis. Vertically SMPL's floor lands on ``floor`` when given (a reference pose taken from an
        animation may have bent knees or a heel up: its own height says little, and the rig's floor is the
        armature's origin plane, where the object stands). Else SMPL's standing pelvis lands on the rest pelvis
        (the rest feet are the floor), except for rigs that rest with their feet far below the origin: Blender's
        BVH importer puts the hips there (its mocap keys lift them off it), so the origin's plane is the floor,
        or generated motion would stand a leg's length under it."""
        anchor = self.heads[self.joint_bone[0]] - self.scale * self.K @ np.array([0.0, 0.0, rest_pelvis_height()])
        if floor is None:
            feet = min(self.heads[self.joint_bone[JOINT_INDEX[n]]] @ up for n in _FEET if JOINT_INDEX[n] in self.joint_bone)
            if feet >= -0.25 * hip_height:
                return anchor
            floor = 0.0
        return anchor + (floor - anchor @ up) * up

    # --- rest alignment ---------------------------------------------------------------------------
    def _directions(self) -> None:
        """u_j, t_b, C_b per mapped joint; ``towards[j]`` is the SMPL joint the direction points at
        (None: the bone's own axis / leaf tip)."""
        self.towards: dict[int, int | None] = {}
        self.corr: dict[int, np.ndarray] = {}
        reach = float(np.ptp(self.heads, axis=0).max()) or 1.0  # the rig's size
        for j, b in self.joint_bone.items():
            c = PRIMARY_CHILD.get(j)
            # unmapped children, and mapped ones whose bone starts where this one does (CMU's Neck sits on
            # Spine1), give no direction: look further down the chain, as the mocap importer does
            while c is not None and (c not in self.joint_bone or np.linalg.norm(
                    self.heads[self.joint_bone[c]] - self.heads[b]) < 1e-3 * reach):
                c = PRIMARY_CHILD.get(c)
            self.towards[j] = c
            if c is not None:
                u = _SMPL_POS[c] - _SMPL_POS[j]
                t = self.heads[self.joint_bone[c]] - self.heads[b]
            else:
                child = PRIMARY_CHILD.get(j)
                u = _SMPL_POS[child] - _SMPL_POS[j] if child is not None else leaf_tip(j)
                t = self.ref_rot[b][:, 1]  # bone Y axis
            if np.linalg.norm(t) < 1e-9:
                raise RetargetError(f"bones for {JOINT_NAMES[j]} and {JOINT_NAMES[c]} sit at the same place")
            self.corr[j] = _rot_between(self.K @ u, t)

    def _sanity(self, heads: Mapping[str, np.ndarray], up: np.ndarray) -> list[str]:
        out = []
        hips = heads["left_hip"] - heads["right_hip"]
        shoulders = heads["left_shoulder"] - heads["right_shoulder"]
        if hips @ shoulders < 0:
            out.append("left and right look swapped between hips and shoulders: check the bone map")
        if up @ self.world_up < 0.8:
            out.append("the rig does not stand upright in the world in its reference pose (a Z-up file read as "
                       "Y-up lies on its back): up is taken from its body, so its motion lies as its mocap does")
        return out

    # --- SMPL -> rig ------------------------------------------------------------------------------
    def prepare_motion(self, motion: Motion, root_mode: str = "FULL", current_pose: np.ndarray | None = None
                       ) -> Motion:
        """Apply the root-motion option in SMPL's frame. KEEP_START needs the rig's current armature-space
        pose matrices (B, 4, 4): the clip then starts where the character stands, facing its way."""
        if root_mode not in ROOT_MODES:
            raise RetargetError(f"root motion must be one of {', '.join(ROOT_MODES)}, got {root_mode!r}")
        if root_mode == "FULL":
            return motion
        trans = motion.translation.copy()
        if root_mode == "IN_PLACE":
            trans[:, :2] = 0.0
            return Motion(motion.rotations, trans, motion.fps)
        if current_pose is None:
            raise RetargetError("KEEP_START needs the character's current pose")
        cur_heads = {JOINT_NAMES[j]: current_pose[b, :3, 3] for j, b in self.joint_bone.items()}
        cur_left = self.K.T @ left_vector(cur_heads)
        pos = motion[0].joint_positions()[0]
        start_left = left_vector(pos)
        turned = motion.rotated_about_z(float(heading_from_left(cur_left) - heading_from_left(start_left)))
        here = self.K.T @ (current_pose[self.joint_bone[0], :3, 3] - self.anchor) / self.scale
        trans = turned.translation.copy()
        trans[:, :2] += here[:2] - trans[0, :2]
        return Motion(turned.rotations, trans, motion.fps)

    def world_deltas(self, motion: Motion) -> np.ndarray:
        """(F, B, 3, 3) armature-space rotation of every bone away from its rest: D_b·E_b, D_b the delta from the
        reference (unmapped bones: their parent's D, so they keep their reference pose relative to it)."""
        local = motion.matrices().double()
        pos, world = forward_kinematics(local, torch.from_numpy(motion.translation).double(),
                                        torch.from_numpy(REST_OFFSETS.astype(np.float64)))
        world, pos = world.numpy(), pos.numpy()
        K = self.K
        n_frames, n_bones = len(motion), len(self.rig.names)
        deltas = np.empty((n_frames, n_bones, 3, 3))
        mapped = {b: j for j, b in self.joint_bone.items()}
        for b, p in enumerate(self.rig.parents):
            j = mapped.get(b)
            if j is None:  # (deltas hold D until the end)
                deltas[:, b] = deltas[:, p] if p >= 0 else np.eye(3)
                continue
            d = K @ world[:, j] @ K.T @ self.corr[j].T
            c = self.towards[j]
            if c is not None and c != PRIMARY_CHILD.get(j):
                # SMPL joints between j and c have no bone here: swing so the bone still points where
                # the SMPL chain does
                posed = np.einsum("fik,k->fi", world[:, j], _SMPL_POS[c] - _SMPL_POS[j])
                d = _rot_between(posed @ K.T, (pos[:, c] - pos[:, j]) @ K.T) @ d
            deltas[:, b] = d
        return deltas @ self.from_rest[None]

    def keyed_bones(self) -> list[int]:
        """Mapped bones and the unmapped bones above them (keyed at rest so they cannot disturb the chain)."""
        keep = set()
        for b in self.joint_bone.values():
            while b >= 0 and b not in keep:
                keep.add(b)
                b = self.rig.parents[b]
        return sorted(keep)

    def location_bone(self) -> int:
        """The bone whose location carries root motion: the pelvis bone, or its nearest unconnected ancestor
        (Blender ignores location keys on connected bones)."""
        b = self.joint_bone[0]
        conn = self.rig.connected
        while conn is not None and conn[b] and self.rig.parents[b] >= 0:
            b = self.rig.parents[b]
        return b

    def to_rig(self, motion: Motion, root_mode: str = "FULL", current_pose: np.ndarray | None = None
               ) -> PoseChannels:
        motion = self.prepare_motion(motion, root_mode, current_pose)
        deltas = self.world_deltas(motion)
        keyed = self.keyed_bones()
        rr = self.rest_rot
        parents = np.array(self.rig.parents)
        par_delta = np.where((parents[keyed] >= 0)[None, :, None, None],
                             deltas[:, np.maximum(parents[keyed], 0)], np.eye(3))
        local = np.swapaxes(par_delta, -1, -2) @ deltas[:, keyed]
        basis = np.swapaxes(rr[keyed], -1, -2)[None] @ local @ rr[keyed][None]
        quats = R.matrix_to_quaternion(torch.from_numpy(basis)).numpy()
        loc = self._root_location(deltas, self.anchor + self.scale * motion.translation.astype(np.float64) @ self.K.T)
        return PoseChannels([self.rig.names[b] for b in keyed], sign_continuous(quats).astype(np.float32),
                            self.rig.names[self.location_bone()], loc.astype(np.float32),
                            [self.rig.names[b] for b in self._ancestors(self.location_bone())])

    def _ancestors(self, b: int) -> list[int]:
        out = []
        while self.rig.parents[b] >= 0:
            b = self.rig.parents[b]
            out.append(b)
        return out

    def _posed_heads(self, deltas: np.ndarray, chain: list[int]) -> np.ndarray:
        """(F, len(chain), 3) heads of a parent-to-child chain of bones without location keys, posed by ``deltas``
        (Blender: a child's head is its parent's transform applied to its rest head)."""
        h = self.rest_heads
        heads = [np.broadcast_to(h[chain[0]], (len(deltas), 3))]
        for prev, cur in zip(chain, chain[1:]):
            heads.append(heads[-1] + deltas[:, prev] @ (h[cur] - h[prev]))
        return np.stack(heads, 1)

    def _root_location(self, deltas: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Location keys of ``location_bone`` that put the pelvis head at ``target`` (F, 3), whatever the bones
        above it and between it and the pelvis do (a reference pose may turn them away from rest)."""
        parents, h, b = self.rig.parents, self.rest_heads, self.location_bone()
        below = [self.joint_bone[0]]  # loc bone .. pelvis
        while below[0] != b:
            below.insert(0, parents[below[0]])
        offset = self._posed_heads(deltas, below)
        head = target - (offset[:, -1] - offset[:, 0])  # where the location bone's head must go
        p = parents[b]
        if p < 0:
            return (head - h[b]) @ self.rest_rot[b]
        parent_head = self._posed_heads(deltas, self._ancestors(b)[::-1])[:, -1]  # root .. p
        local = np.einsum("fji,fj->fi", deltas[:, p], head - parent_head) + h[p] - h[b]  # D_pᵀ·(...)
        return local @ self.rest_rot[b]  # R_bᵀ·local

    # --- rig -> SMPL ------------------------------------------------------------------------------
    def from_rig(self, pose: np.ndarray, fps: float = 30.0) -> Motion:
        """Evaluated armature-space pose matrices (F, B, 4, 4), bones in ``rig.names`` order -> Motion.
        SMPL joints without a bone follow their parent."""
        pose = np.asarray(pose, np.float64)
        rot = pose[..., :3, :3]
        rot = rot / np.linalg.norm(rot, axis=-2, keepdims=True)  # pose scale must not leak into rotations
        world = np.empty((len(pose), NUM_JOINTS, 3, 3))
        K = self.K
        for j, p in enumerate(PARENTS):
            b = self.joint_bone.get(j)
            if b is None:
                world[:, j] = world[:, p] if p >= 0 else np.eye(3)
            else:
                d = rot[:, b] @ self.ref_rot[b].T
                world[:, j] = K.T @ d @ self.corr[j] @ K
        local = world_to_local(torch.from_numpy(world))
        trans = (pose[:, self.joint_bone[0], :3, 3] - self.anchor) @ self.K / self.scale
        return Motion.from_matrices(local.float().numpy(), trans, fps)

    # --- checks -----------------------------------------------------------------------------------
    def joint_directions(self, pose: np.ndarray) -> np.ndarray:
        """Posed direction per mapped joint (the one transfer matches), brought into SMPL's frame:
        (F, mapped joints in ``JOINT_NAMES`` order, 3), unit length."""
        pose = np.asarray(pose, np.float64)
        out = []
        for j, b in sorted(self.joint_bone.items()):
            c = self.towards[j]
            d = pose[:, self.joint_bone[c], :3, 3] - pose[:, b, :3, 3] if c is not None else pose[:, b, :3, 1]
            out.append(_unit(d @ self.K))
        return np.stack(out, 1)

    def smpl_directions(self, motion: Motion) -> np.ndarray:
        """The same directions measured on the SMPL skeleton of ``motion``."""
        pos, world = forward_kinematics(motion.matrices().double(), torch.from_numpy(motion.translation).double(),
                                        torch.from_numpy(REST_OFFSETS.astype(np.float64)))
        pos, world = pos.numpy(), world.numpy()
        out = []
        for j in sorted(self.joint_bone):
            c = self.towards[j]
            if c is not None:
                out.append(_unit(pos[:, c] - pos[:, j]))
            else:
                child = PRIMARY_CHILD.get(j)
                u = _SMPL_POS[child] - _SMPL_POS[j] if child is not None else leaf_tip(j)
                out.append(_unit(world[:, j] @ u))
        return np.stack(out, 1)
