"""A linear auto-encoder as a yardstick for held-out reconstruction (``motionclip evaluate --linear-baseline``).

The principal components of the training windows' standardised features, as many as the model's latent has
numbers: encode = project, decode = the sum of components. It has no text alignment and cannot generate, but it
says how much of a new performer's motion a code of that size can carry when nothing is memorised: a network
whose held-out error is far above it generalises worse than a projection (v0.5 on the 172 full-length test
windows: 406.6 mm from its encoder's latents, the projection 141.6 mm).
Written here rather than with scikit-learn (not a dependency) because it is one low-rank SVD in torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..model.network import FEATURE_ROWS, FEATURE_WIDTH
from ..motion.motion import Motion
from .reconstruction import family_means, reconstruction_errors


@dataclass
class LinearAutoencoder:
    frames: int
    mean: torch.Tensor  # (frames * 150,) per-channel mean of the training windows
    std: torch.Tensor  # (frames * 150,) their std, floored like the network's feature statistics
    basis: torch.Tensor  # (components, frames * 150) orthonormal rows

    @property
    def components(self) -> int:
        return self.basis.shape[0]

    def reconstruct(self, motion: Motion) -> Motion:
        """``motion`` (canonical, ``frames`` long) projected on the components and back."""
        if len(motion) != self.frames:
            raise InputError(f"the linear auto-encoder reads windows of {self.frames} frames, got {len(motion)}")
        x = (motion.to_features().reshape(-1).double() - self.mean) / self.std
        out = (self.basis.T @ (self.basis @ x)) * self.std + self.mean
        feats = out.reshape(self.frames, FEATURE_ROWS, FEATURE_WIDTH).float()
        feats[:, FEATURE_ROWS - 1, 3:] = 0  # the root row: the translation in its first three numbers, then zeros
        return Motion.from_features(feats, motion.fps)


def fit_linear_autoencoder(windows: list[Motion], components: int, std_floor: float = 0.1,
                           seed: int = 0) -> LinearAutoencoder:
    """The ``components`` leading principal components of equal-length canonical ``windows``."""
    if not windows:
        raise InputError("the linear auto-encoder needs training windows")
    frames = len(windows[0])
    if any(len(w) != frames for w in windows):
        raise InputError("the linear auto-encoder's training windows must all have the same length")
    most = min(len(windows), frames * FEATURE_ROWS * FEATURE_WIDTH)
    if not 1 <= components <= most:
        raise InputError(f"components must be between 1 and {most} (the windows and their numbers), got {components}")
    x = torch.stack([w.to_features().reshape(-1) for w in windows]).double()
    mean, std = x.mean(0), x.std(0)
    std = torch.where(std < 1e-6, torch.ones_like(std), std.clamp(min=std_floor))
    z = (x - mean) / std
    # randomised low-rank SVD: the leading components of a 7,000 x 9,000 matrix in seconds, not minutes
    torch.manual_seed(seed)
    q = min(components + 20, *z.shape)
    _, _, v = torch.svd_lowrank(z, q=q, niter=6)
    return LinearAutoencoder(frames, mean, std, v[:, :components].T.contiguous())


def linear_baseline_figures(model, train_clips, eval_windows, components: int | None = None,
                            stride: int = 10) -> dict:
    """The linear auto-encoder fitted on ``train_clips`` (windows every ``stride`` frames and their mirror
    images, as the model trains on both) beside ``model`` (an api.MotionCLIP), on the ``eval_windows`` of the
    model's full length (a projection reads one length; shorter ones are left out of both figures). Components:
    as many as the latent has numbers, or the training windows if there are fewer."""
    from .dataset import fixed_windows

    frames = model.frames
    train = [w.motion for w in fixed_windows(train_clips, frames, stride=stride)]
    train += [m.mirrored().canonical() for m in train]
    # as many numbers as the latent, unless fewer windows than that were fitted (the figures say how many)
    components = components or min(model.meta.encoder_dim, len(train))
    linear = fit_linear_autoencoder(train, components)
    full = [w for w in eval_windows if len(w.motion) == frames]
    if not full:
        raise InputError(f"no evaluation window is {frames} frames long")
    ours, theirs = [], []
    for w in full:
        want = w.motion.joint_positions()
        ours.append(reconstruction_errors(model.decode(model.encode(w.motion), frames).joint_positions(), want))
        theirs.append(reconstruction_errors(linear.reconstruct(w.motion).joint_positions(), want))
    keys = ("mpjpe_mm", "root_relative_mpjpe_mm", "root_path_error_mm")
    return {"windows": len(full), "components": components, "training_windows": len(train),
            "model": dict(zip(keys, np.mean(ours, axis=0).tolist())),
            "linear": dict(zip(keys, np.mean(theirs, axis=0).tolist()),
                           by_family=family_means(full, [e[0] for e in theirs]))}
