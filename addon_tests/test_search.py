"""Text search over motions: ranking by cosine, latents cached by content and model, the CLI over a folder."""

import numpy as np
import pytest
import torch

from motionclip_blender.core.cli import main
from motionclip_blender.core.model.search import LatentCache, content_key, rank

from .test_api import model, small_checkpoint  # noqa: F401  (fixtures)
from .test_motion import random_motion


def test_rank_orders_by_cosine_with_the_text(model):  # noqa: F811
    motions = {f"m{i}": random_motion(40, seed=i) for i in range(6)}
    result = rank(model, "a person jumps", motions, top_k=6)
    text = model.text_latent(["a person jumps"])[0]
    expected = sorted(((n, float(model.encode(m) @ text)) for n, m in motions.items()), key=lambda t: -t[1])
    assert [n for n, _ in result] == [n for n, _ in expected]
    assert np.allclose([s for _, s in result], [s for _, s in expected], atol=1e-5)
    assert len(rank(model, "walk", motions, top_k=2)) == 2
    with pytest.raises(ValueError, match="nothing to search"):
        rank(model, "walk", {})


def test_latents_are_cached_by_content_so_a_second_search_encodes_no_motion(model, tmp_path, monkeypatch):  # noqa: F811
    motions = {f"m{i}": random_motion(60, seed=i) for i in range(100)}
    cache = LatentCache(tmp_path / "latents.npz")
    rank(model, "a person walks", motions, cache=cache)
    cache.save()
    again = LatentCache(tmp_path / "latents.npz")
    assert len(again.entries) == 100
    calls = []
    monkeypatch.setattr(type(model), "encode", lambda self, m: calls.append(m))
    rank(model, "a person runs", motions, cache=again)
    assert calls == []  # only the text is encoded (timing: benchmarks/bench_search.py)
    before = content_key(motions["m0"])
    model.encode(motions["m0"][10:40])  # encoding a slice leaves the motion (and its key) as it was
    assert content_key(motions["m0"]) == before
    moved = motions["m0"][0:60]
    moved.translation[:, 0] += 1.0  # a slice owns its arrays: the original keeps its path and its key
    assert content_key(motions["m0"]) == before
    assert content_key(moved) != content_key(motions["m0"])


def test_search_command_over_a_folder(small_checkpoint, tmp_path, capsys):  # noqa: F811
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(4):
        random_motion(45, seed=i).save_npz(folder / f"clip{i}.npz")
    (folder / "notes.txt").write_text("not a motion")
    (folder / "broken.bvh").write_text("HIERARCHY nonsense")
    assert main(["search", "a person kicks", str(folder), "--top-k", "3", "--model", str(small_checkpoint),
                 "--cache", str(tmp_path / "c.npz")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 3 and all(l.split()[-1].startswith("clip") for l in lines)
    scores = [float(l.split()[0]) for l in lines]
    assert scores == sorted(scores, reverse=True) and "skipped broken.bvh" in captured.err
    assert (tmp_path / "c.npz").is_file()
