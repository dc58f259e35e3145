"""Forward kinematics for any joint tree given as parent indices (parents before children)."""

from __future__ import annotations

from typing import Sequence

import torch

from .skeleton import PARENTS, REST_OFFSETS


def forward_kinematics(
    local_rotations: torch.Tensor,
    root_translation: torch.Tensor,
    offsets: torch.Tensor | None = None,
    parents: Sequence[int] = PARENTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Local rotation matrices (..., J, 3, 3) and root positions (..., 3) -> world joint positions
    (..., J, 3) and world rotations (..., J, 3, 3). Offsets (J, 3) are child-minus-parent rest vectors."""
    if offsets is None:
        offsets = torch.tensor(REST_OFFSETS, dtype=local_rotations.dtype, device=local_rotations.device)
    if local_rotations.shape[-3] != len(parents):
        raise ValueError(f"expected {len(parents)} joints, got rotations of shape {tuple(local_rotations.shape)}")
    world_rot: list[torch.Tensor] = []
    world_pos: list[torch.Tensor] = []
    for j, p in enumerate(parents):
        if p < 0:
            world_rot.append(local_rotations[..., j, :, :])
            world_pos.append(root_translation)
        else:
            world_rot.append(world_rot[p] @ local_rotations[..., j, :, :])
            world_pos.append(world_pos[p] + (world_rot[p] @ offsets[j].unsqueeze(-1)).squeeze(-1))
    return torch.stack(world_pos, dim=-2), torch.stack(world_rot, dim=-3)


def world_to_local(world_rotations: torch.Tensor, parents: Sequence[int] = PARENTS) -> torch.Tensor:
    """World rotations (..., J, 3, 3) -> local rotations relative to each parent."""
    local = world_rotations.clone()
    for j, p in enumerate(parents):
        if p >= 0:
            local[..., j, :, :] = world_rotations[..., p, :, :].transpose(-1, -2) @ world_rotations[..., j, :, :]
    return local
