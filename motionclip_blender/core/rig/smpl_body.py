"""The user's SMPL / SMPL-H / SMPL-X body, read through ``smplx``, as a mesh skinned to the 24-joint SMPL rig.

The add-on never ships SMPL files (their licence forbids it); users who have them point the add-on at the
file or the folder ``smplx.create`` expects. Here we only read the rest geometry: the shaped template
``v_template + shapedirs · betas``, the joints ``J_regressor · v``, the faces and the linear-blend-skinning
weights. Blender's Armature modifier then does the LBS; SMPL's pose-corrective blend shapes (``posedirs``) are
dropped because an Armature modifier cannot express them (a small visual difference at bent joints only).

Two adaptations make the mesh ride our rig exactly:

* Joint mapping: SMPL-H / SMPL-X have finger, jaw and eye joints the 24-joint rig lacks. Their weights are
  folded into the nearest rig joint up the kinematic tree (fingers -> ``left_hand``/``right_hand``, jaw and
  eyes -> ``head``), so every vertex still sums to weight 1.
* Fitting: the rig's rest pose is the neutral SMPL skeleton (``skeleton.REST_OFFSETS``); another shape or
  gender has its joints a few centimetres elsewhere. Each vertex is moved by the skinning-weighted blend of
  (rig joint - body joint), so each body part sits on its bone. For the neutral body this is a pure
  translation; for other shapes proportions change slightly, which is what a shared skeleton implies.

No ``bpy`` here: ``blender/smpl_body.py`` turns a :class:`SmplBody` into a Blender object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MotionCLIPError
from ..motion.skeleton import NUM_JOINTS, SMPL_TO_BLENDER, rest_joint_positions, rest_pelvis_height

_BODY_JOINTS = 22  # pelvis .. right_wrist are shared by SMPL, SMPL-H and SMPL-X in the same order
_HEAD, _LEFT_WRIST, _RIGHT_WRIST, _LEFT_HAND, _RIGHT_HAND = 15, 20, 21, 22, 23
_KINDS = ("smpl", "smplh", "smplx")


class SmplModelError(MotionCLIPError, RuntimeError):
    """The SMPL model files cannot be used; the message says which file and what to do."""


@dataclass
class SmplBody:
    vertices: np.ndarray  # (V, 3) float32, Blender frame, fitted to the rig's rest joints (feet at z = 0)
    faces: np.ndarray  # (F, 3) int64
    weights: np.ndarray  # (V, 24) float32, rows sum to 1, columns in skeleton.JOINT_NAMES order
    joints: np.ndarray  # (24, 3) the body's own rest joints (Blender frame, before fitting), for diagnostics
    kind: str  # "smpl" | "smplh" | "smplx"
    source: str


def rig_rest_joints() -> np.ndarray:
    """Rest joints of the add-on's rig (armature space): the core skeleton with the soles on z = 0."""
    pos = rest_joint_positions()
    pos[:, 2] += rest_pelvis_height()
    return pos


def joint_map(parents: np.ndarray) -> np.ndarray:
    """For each model joint, the rig joint (0..23) that takes its skinning weight."""
    parents = np.asarray(parents, dtype=np.int64)
    n = len(parents)
    if n == NUM_JOINTS:
        return np.arange(n)  # plain SMPL: one to one
    if n < _BODY_JOINTS:
        raise SmplModelError(f"a body model with {n} joints is not an SMPL-family body (need >= {_BODY_JOINTS})")
    out = np.empty(n, dtype=np.int64)
    for j in range(n):
        k = j
        while k >= _BODY_JOINTS:  # climb extra joints (fingers, jaw, eyes) to the body
            k = int(parents[k])
        # Whatever hangs off a wrist beyond the body joints is hand; jaw and eyes hang off the head.
        if j >= _BODY_JOINTS and k in (_LEFT_WRIST, _RIGHT_WRIST):
            k = _LEFT_HAND if k == _LEFT_WRIST else _RIGHT_HAND
        out[j] = k
    return out


def _kind_of(path: Path, model_type: str | None) -> str:
    if model_type:
        kind = model_type.lower()
    else:
        kind = path.name.split("_")[0].lower() if path.is_file() else ""
    if kind not in _KINDS:
        raise SmplModelError(
            f"{path}: cannot tell which body model this is; keep the official file names (SMPL_NEUTRAL.pkl, "
            "SMPLH_MALE.pkl, SMPLX_NEUTRAL.npz) or choose the model type (smpl, smplh, smplx)")
    return kind


def _open_model(path: Path, kind: str, gender: str):
    import smplx

    if path.is_dir():
        # smplx.create's folder layout: <dir>/<kind>/<KIND>_<GENDER>.<ext>, or the files directly in <dir>.
        base = path / kind if (path / kind).is_dir() else path
        for ext in ("pkl", "npz"):
            candidate = base / f"{kind.upper()}_{gender.upper()}.{ext}"
            if candidate.is_file():
                path = candidate
                break
        else:
            raise SmplModelError(f"{path}: no {kind.upper()}_{gender.upper()}.pkl/.npz in this folder")
    classes = {"smpl": smplx.SMPL, "smplh": smplx.SMPLH, "smplx": smplx.SMPLX}
    kwargs = {"gender": gender}
    if kind != "smpl":
        kwargs["ext"] = path.suffix.lstrip(".")
        kwargs["use_pca"] = False  # hand PCA is irrelevant for the rest mesh; avoids needing the components
    try:
        # smplx reads .pkl with pickle (the official format): only point this at files you trust.
        return classes[kind](str(path), **kwargs)
    except ModuleNotFoundError as exc:
        if exc.name == "chumpy":
            raise SmplModelError(
                f"{path}: this is an original SMPL release file that stores chumpy objects; install 'chumpy' or use "
                "a version without chumpy (e.g. SMPL 1.1.0's basicmodel_*.pkl re-saved with numpy arrays)") from exc
        raise
    except (OSError, EOFError, ValueError, KeyError, AttributeError, AssertionError) as exc:
        raise SmplModelError(f"{path}: not a readable {kind.upper()} model file ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # pickle.UnpicklingError and friends from a corrupt file
        raise SmplModelError(f"{path}: cannot load {kind.upper()} model ({type(exc).__name__}: {exc})") from exc


def load_smpl_body(path: str | os.PathLike, gender: str = "neutral", betas=None,
                   model_type: str | None = None) -> SmplBody:
    """Rest mesh of an SMPL-family model file/folder, mapped and fitted to the 24-joint rig."""
    try:
        import torch
        from smplx.lbs import blend_shapes, vertices2joints
    except ImportError as exc:
        raise SmplModelError(f"the SMPL body needs the 'smplx' package (pip install smplx): {exc}") from exc
    p = Path(path).expanduser()
    if not p.exists():
        raise SmplModelError(f"{p}: no such SMPL model file or folder")
    kind = _kind_of(p, model_type) if p.is_file() or model_type else next(
        (k for k in ("smplx", "smplh", "smpl") if (p / k).is_dir() or any(p.glob(f"{k.upper()}_*"))), "smpl")
    model = _open_model(p, kind, gender)
    with torch.no_grad():
        b = torch.zeros(1, model.num_betas)
        if betas is not None:
            given = torch.as_tensor(np.asarray(betas, dtype=np.float32)).flatten()[: model.num_betas]
            b[0, : len(given)] = given
        # Geometry from the buffers, not model.forward: forward also picks landmark vertices by fixed
        # indices, which needs the full-size official mesh; this works for any SMPL-format file.
        v = model.v_template + blend_shapes(b, model.shapedirs)[0]
        joints = vertices2joints(model.J_regressor, v[None])[0]
        weights = model.lbs_weights.numpy().astype(np.float64)
        parents = model.parents.numpy()
    mapping = joint_map(parents)
    w24 = np.zeros((weights.shape[0], NUM_JOINTS))
    np.add.at(w24.T, mapping, weights.T)  # fold extra joints' columns into their rig joint
    w24 /= np.clip(w24.sum(1, keepdims=True), 1e-8, None)
    verts = v.numpy().astype(np.float64) @ SMPL_TO_BLENDER.T
    body_joints = joints.numpy().astype(np.float64)[:_BODY_JOINTS if len(parents) != NUM_JOINTS else NUM_JOINTS]
    body_joints = body_joints @ SMPL_TO_BLENDER.T
    if len(parents) != NUM_JOINTS:
        # SMPL-H/X have no hand joint: put it at the weighted centre of the vertices now mapped to it.
        hands = [(w24[:, h:h + 1] * verts).sum(0) / max(w24[:, h].sum(), 1e-8) for h in (_LEFT_HAND, _RIGHT_HAND)]
        body_joints = np.concatenate([body_joints, np.stack(hands)])
    fitted = verts + w24 @ (rig_rest_joints() - body_joints)
    return SmplBody(vertices=fitted.astype(np.float32), faces=np.asarray(model.faces, dtype=np.int64),
                    weights=w24.astype(np.float32), joints=body_joints.astype(np.float32), kind=kind, source=str(p))
