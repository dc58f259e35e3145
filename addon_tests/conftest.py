"""Shared fixtures for the add-on test suite. Keep them generic and cheap; heavy imports go inside fixtures."""

from __future__ import annotations

import pytest

# A CLIP small enough to build in milliseconds that clip.model.build_model still accepts: widths are multiples
# of 64 (build_model derives heads = width // 64), image 64 px with 32 px patches (a 2x2 grid), the standard
# 77-token context and the 49408-token vocabulary clip.tokenize emits. Arguments follow clip.model.CLIP.
TINY_CLIP_ARGS = dict(embed_dim=32, image_resolution=64, vision_layers=2, vision_width=64, vision_patch_size=32,
                      context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1,
                      transformer_layers=2)


def build_tiny_clip(seed: int = 0):
    """A randomly initialised tiny clip.model.CLIP (eval mode, fp32)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*")  # clip-anytorch's import
        from clip.model import CLIP

    torch.manual_seed(seed)
    return CLIP(**TINY_CLIP_ARGS).eval()


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory) -> str:
    """Path of a torch.save'd state_dict of a tiny CLIP: loads through the real clip.load(path, jit=False)."""
    import torch

    path = tmp_path_factory.mktemp("tiny_clip") / "tiny_clip.pt"
    torch.save(build_tiny_clip().state_dict(), path)
    return str(path)
