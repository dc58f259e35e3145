"""The paper's training losses, each masked to real (non-padded) frames.

- ``rc``: MSE on the 6D rotations and the root translation (the 25 x 6 features)
- ``rcxyz``: MSE on joint positions through forward kinematics
- ``vel``: MSE on frame-to-frame feature velocities
- ``velxyz``: MSE on joint-position velocities (the paper's code has it as an option)
- ``text``/``image``: 1 - cos(z, CLIP text / image embedding); with ``text_cos_target`` < 1 the text
  term is hinged at that cosine
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..motion import rotations as R
from ..config_io import from_dict_strict
from ..motion.kinematics import forward_kinematics
from ..motion.skeleton import NUM_JOINTS


@dataclass
class LossWeights:
    rc: float = 1.0
    rcxyz: float = 1.0
    vel: float = 1.0
    velxyz: float = 0.0
    text: float = 0.1
    image: float = 0.1
    # Reconstruction from the *text* embedding (ours, as in TEMOS/TMR): with little data it keeps
    # decoded prompts on the motion manifold. 0 reproduces the paper.
    text_rc: float = 0.0
    # The text term pulls cos(z, text) up to this value and no further (ours). 1.0 is the paper's 1 - cos,
    # which drives every window of a prompt to one point and leaves the decoder nothing but their average;
    # below 1 the rest of the latent is free to keep the window's own pose and timing.
    text_cos_target: float = 1.0

    @classmethod
    def from_dict(cls, data: dict) -> "LossWeights":
        return from_dict_strict(cls, data, "loss weight")

    def to_dict(self) -> dict:
        return asdict(self)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the frames where mask (batch, frames) is True."""
    m = mask.reshape(mask.shape + (1,) * (pred.dim() - 2)).to(pred.dtype)
    per_elem = (pred - target).pow(2) * m
    denom = m.sum() * (pred[0, 0].numel())
    return per_elem.sum() / denom.clamp(min=1.0)


def features_to_positions(features: torch.Tensor) -> torch.Tensor:
    """(batch, frames, 25, 6) features -> (batch, frames, 24, 3) joint positions."""
    mats = R.rot6d_to_matrix(features[:, :, :NUM_JOINTS])
    pos, _ = forward_kinematics(mats, features[:, :, NUM_JOINTS, :3])
    return pos


def cosine_loss(z: torch.Tensor, target: torch.Tensor, cos_target: float = 1.0) -> torch.Tensor:
    """mean(max(0, cos_target - cos(z, target))): the paper's 1 - cos at ``cos_target`` 1."""
    return (cos_target - F.cosine_similarity(z, target, dim=-1)).clamp(min=0).mean()


def reconstruction_losses(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                          weights: LossWeights, feature_std: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``feature_std`` (25, 6): the feature and velocity terms are measured in standardised units (each channel
    counts alike); joint positions always in metres."""
    losses: dict[str, torch.Tensor] = {}
    scale = feature_std if feature_std is not None else 1.0
    if weights.rc:
        losses["rc"] = _masked_mse(pred / scale, target / scale, mask)
    vel_mask = mask[:, 1:] & mask[:, :-1]
    if weights.vel:
        losses["vel"] = _masked_mse((pred[:, 1:] - pred[:, :-1]) / scale, (target[:, 1:] - target[:, :-1]) / scale,
                                    vel_mask)
    if weights.rcxyz or weights.velxyz:
        pred_pos, target_pos = features_to_positions(pred), features_to_positions(target)
        if weights.rcxyz:
            losses["rcxyz"] = _masked_mse(pred_pos, target_pos, mask)
        if weights.velxyz:
            losses["velxyz"] = _masked_mse(pred_pos[:, 1:] - pred_pos[:, :-1],
                                           target_pos[:, 1:] - target_pos[:, :-1], vel_mask)
    return losses


def total_loss(losses: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    total = None
    for name, value in losses.items():
        term = getattr(weights, name) * value
        total = term if total is None else total + term
    if total is None:
        raise InputError("all loss weights are zero: nothing to train")
    return total
