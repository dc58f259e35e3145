"""The one data type for a pose sequence on the SMPL skeleton.

A Motion holds local joint rotations as unit quaternions (w, x, y, z), the root (pelvis) position in
metres and a frame rate, all in the project's Blender convention (see ``skeleton``). It is a plain
numpy container so that it crosses into Blender (``foreach_set``) and files without torch tensors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, InputTypeError, MotionCLIPError
from . import rotations as R
from .kinematics import forward_kinematics
from .skeleton import JOINT_NAMES, MIRROR_INDEX, NUM_JOINTS

NPZ_FORMAT = "motionclip-motion-1"


class MotionFileError(MotionCLIPError, ValueError):
    """A motion file that cannot be read: names the file and what is wrong."""


def check_output_path(path: Path) -> None:
    """Refuse, before writing anything, an output path that is a directory or in a folder that does not exist."""
    if path.is_dir():
        raise MotionFileError(f"{path}: is a directory; give a file name (e.g. {path / 'motion.npz'})")
    if not path.parent.is_dir():
        raise MotionFileError(f"{path}: the folder {path.parent} does not exist")


@dataclass
class Motion:
    rotations: np.ndarray  # (frames, 24, 4) quaternions w, x, y, z
    translation: np.ndarray  # (frames, 3) pelvis position, metres
    fps: float = 30.0

    def __post_init__(self):
        self.rotations = np.ascontiguousarray(self.rotations, dtype=np.float32)
        self.translation = np.array(self.translation, dtype=np.float32)  # own copy: slices never share the path
        if self.rotations.ndim != 3 or self.rotations.shape[1:] != (NUM_JOINTS, 4):
            raise InputError(f"rotations must be (frames, {NUM_JOINTS}, 4), got {self.rotations.shape}")
        if self.translation.shape != (self.rotations.shape[0], 3):
            raise InputError(
                f"translation must be ({self.rotations.shape[0]}, 3) to match the rotations, got {self.translation.shape}")
        if not np.isfinite(self.rotations).all() or not np.isfinite(self.translation).all():
            raise InputError("motion contains NaN or infinite values")
        if not 0 < self.fps < float("inf"):
            raise InputError(f"fps must be a positive finite number, got {self.fps}")
        norms = np.linalg.norm(self.rotations, axis=-1, keepdims=True)
        if (norms < 1e-6).any():
            raise InputError("rotations contain zero-length quaternions")
        self.rotations = self.rotations / norms  # a new array: a Motion made from a slice never edits its parent
        self.fps = float(self.fps)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def rest(cls, frames: int = 1, fps: float = 30.0, height: float | None = None) -> "Motion":
        from .skeleton import rest_pelvis_height

        rot = np.zeros((frames, NUM_JOINTS, 4), np.float32)
        rot[..., 0] = 1.0
        trans = np.zeros((frames, 3), np.float32)
        trans[:, 2] = rest_pelvis_height() if height is None else height
        return cls(rot, trans, fps)

    @classmethod
    def from_matrices(cls, matrices, translation, fps: float = 30.0) -> "Motion":
        quat = R.matrix_to_quaternion(torch.as_tensor(np.asarray(matrices), dtype=torch.float32))
        return cls(quat.numpy(), np.asarray(translation), fps)

    @classmethod
    def from_features(cls, features, fps: float = 30.0) -> "Motion":
        """Model features (frames, 25, 6): 24 rotations in 6D and the root translation in row 25
        (first three numbers) -> Motion."""
        feats = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features.detach().cpu())
        if feats.ndim != 3 or feats.shape[1:] != (NUM_JOINTS + 1, 6):
            raise InputError(f"features must be (frames, {NUM_JOINTS + 1}, 6), got {tuple(feats.shape)}")
        mats = R.rot6d_to_matrix(feats[:, :NUM_JOINTS].float())
        return cls.from_matrices(mats, feats[:, NUM_JOINTS, :3].float().numpy(), fps)

    # --- views --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.rotations.shape[0]

    def __getitem__(self, index) -> "Motion":
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        if not isinstance(index, slice):
            raise InputTypeError("a Motion is sliced by frames: motion[a:b] or motion[i]")
        return Motion(self.rotations[index], self.translation[index], self.fps)

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def matrices(self) -> torch.Tensor:
        return R.quaternion_to_matrix(torch.from_numpy(self.rotations))

    def to_features(self) -> torch.Tensor:
        """(frames, 25, 6) float32: 6D rotations + translation padded to 6 (MotionCLIP's layout)."""
        d6 = R.matrix_to_rot6d(self.matrices())
        trans = torch.zeros((len(self), 1, 6))
        trans[:, 0, :3] = torch.from_numpy(self.translation)
        return torch.cat([d6, trans], dim=1)

    def joint_positions(self) -> np.ndarray:
        """World joint positions (frames, 24, 3) in metres, Z up, facing -Y at rest."""
        pos, _ = forward_kinematics(self.matrices(), torch.from_numpy(self.translation))
        return pos.numpy()

    # --- editing ------------------------------------------------------------------------------
    def resample(self, fps: float) -> "Motion":
        """Resample to another frame rate: slerp for rotations, linear for translation. The clip keeps
        its duration (first and last frames stay)."""
        if fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        if abs(fps - self.fps) < 1e-9 or len(self) < 2:
            return Motion(self.rotations.copy(), self.translation.copy(), fps)
        new_len = max(2, int(round((len(self) - 1) * fps / self.fps)) + 1)
        t = np.linspace(0, len(self) - 1, new_len)
        i0 = np.clip(np.floor(t).astype(int), 0, len(self) - 2)
        w = (t - i0).astype(np.float32)
        q = R.quaternion_slerp(torch.from_numpy(self.rotations[i0]), torch.from_numpy(self.rotations[i0 + 1]),
                               torch.from_numpy(w)[:, None])
        trans = self.translation[i0] * (1 - w[:, None]) + self.translation[i0 + 1] * w[:, None]
        return Motion(q.numpy(), trans, fps)

    def at_fps(self, fps: float) -> "Motion":
        """This motion at ``fps``: itself when already there (within 1e-6), else :meth:`resample`d. The one
        place the "resample only when the rate differs" rule is written."""
        return self if abs(float(self.fps) - float(fps)) <= 1e-6 else self.resample(fps)

    def heading(self) -> np.ndarray:
        """(F,) heading per frame, radians about +Z, 0 facing -Y (``heading.py``)."""
        from .heading import heading_from_positions

        return heading_from_positions(self.joint_positions())

    def canonical(self) -> "Motion":
        """The model's input convention: the first frame's pelvis over the origin, facing -Y."""
        out = self.rotated_about_z(-float(self[0:1].heading()[0]))
        out.translation[:, :2] -= out.translation[:1, :2]
        return out

    def mirrored(self) -> "Motion":
        """Left/right mirror across the character's sagittal plane (x -> -x)."""
        q = self.rotations[:, list(MIRROR_INDEX)].copy()
        q[..., 2:] *= -1  # reflecting x negates the y and z components of the rotation axis
        trans = self.translation.copy()
        trans[:, 0] *= -1
        return Motion(q, trans, self.fps)

    def rotated_about_z(self, angle: float) -> "Motion":
        """Turn the whole motion about the vertical axis through the world origin."""
        half = angle / 2
        turn = torch.tensor([np.cos(half), 0.0, 0.0, np.sin(half)], dtype=torch.float32)
        q = torch.from_numpy(self.rotations.copy())
        q[:, 0] = R.quaternion_multiply(turn.expand(len(self), 4), q[:, 0])
        c, s = np.cos(angle), np.sin(angle)
        rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
        return Motion(q.numpy(), self.translation @ rz.T, self.fps)

    # --- files --------------------------------------------------------------------------------
    def save_npz(self, path: str | os.PathLike) -> None:
        path = Path(path)
        # per-process temporary name: concurrent writers (e.g. DDP ranks filling one cache) never collide
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        meta = json.dumps({"format": NPZ_FORMAT, "joints": list(JOINT_NAMES), "convention": "blender-zup-facing-neg-y"})
        check_output_path(path)
        try:
            np.savez(tmp, rotations=self.rotations, translation=self.translation, fps=np.float32(self.fps),
                     meta=np.array(meta))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> "Motion":
        path = Path(path)
        if not path.is_file():
            raise MotionFileError(f"{path}: no such motion file")
        try:
            with np.load(path, allow_pickle=False) as data:
                rotations, translation, fps = data["rotations"], data["translation"], float(data["fps"])
        except KeyError as exc:
            raise MotionFileError(f"{path}: not a MotionCLIP motion file (missing {exc})") from None
        except Exception as exc:  # zipfile/np errors: truncated or foreign files
            raise MotionFileError(f"{path}: cannot read motion file ({exc})") from None
        try:
            return cls(rotations, translation, fps)
        except ValueError as exc:
            raise MotionFileError(f"{path}: {exc}") from None
