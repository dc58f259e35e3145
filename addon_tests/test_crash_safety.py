"""Crash-safe checkpoints: a kill at any point of a save leaves a loadable checkpoint after ``recover``, stale
temporaries are removed, and training never silently restarts from step 0."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from motionclip_blender.core.model import checkpoint as C
from motionclip_blender.core.model.checkpoint import CheckpointMeta, load_checkpoint, recover, save_checkpoint
from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

CFG = ModelConfig(d_model=32, latent_dim=384, num_encoder_layers=1, num_decoder_layers=1, num_heads=4, ff_size=32)
META = CheckpointMeta(model=CFG, encoder="minilm:all-MiniLM-L6-v2", encoder_dim=384)


class Killed(BaseException):
    """The process dies here: nothing after it runs, not even ``finally`` clean-ups (they are no-ops below)."""


def _weights(seed):
    torch.manual_seed(seed)
    return MotionCLIPModel(CFG)


def _kill_at(monkeypatch, k):
    """Make the k-th file-system step of a save the last thing that happens."""
    calls = {"n": 0, "dead": False}

    def step(real):
        def wrapped(*args, **kwargs):
            if calls["dead"]:
                return None
            calls["n"] += 1
            if calls["n"] == k:
                calls["dead"] = True
                raise Killed()
            return real(*args, **kwargs)
        return wrapped

    for name in ("replace", "chmod"):
        monkeypatch.setattr(C.os, name, step(getattr(os, name)))
    for name in ("rmtree", "copy2"):
        monkeypatch.setattr(C.shutil, name, step(getattr(shutil, name)))
    for name in ("save_file", "_fsync_tree", "_fsync_dir"):
        monkeypatch.setattr(C, name, step(getattr(C, name)))
    monkeypatch.setattr(C.Path, "write_text", step(Path.write_text))
    return calls


def test_a_kill_at_every_step_of_a_save_leaves_a_loadable_checkpoint(tmp_path, monkeypatch):
    old, new = _weights(1), _weights(2)
    target = tmp_path / "last"
    k = 1
    while True:
        shutil.rmtree(tmp_path, ignore_errors=True)
        save_checkpoint(old, META, target, extra={"train_state.pt": lambda p: p.write_bytes(b"old")})
        with monkeypatch.context() as m:
            calls = _kill_at(m, k)
            try:
                save_checkpoint(new, META, target, extra={"train_state.pt": lambda p: p.write_bytes(b"new")})
            except Killed:
                pass
        if not calls["dead"]:
            break  # the save ran to the end: every step has been a kill point
        assert recover(target) == target, f"nothing to load after a kill at step {k}"
        loaded, _ = load_checkpoint(target)
        same_old = all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), old.state_dict().values()))
        same_new = all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), new.state_dict().values()))
        assert same_old or same_new, k
        assert (target / "train_state.pt").read_bytes() == (b"old" if same_old else b"new")  # state matches weights
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last"], k  # no .old, no temporaries
        k += 1
    assert k > 8  # the save has that many steps: the loop really killed it everywhere


def test_training_resumes_after_real_kills(tmp_path):
    """SIGKILL a tiny training run (a checkpoint every step) at several moments: every rerun finds a loadable
    checkpoint and continues from a step > 0, and the run finally completes."""
    from .test_train import _tiny_config_file, _tiny_data_at

    config = _tiny_config_file(_tiny_data_at(tmp_path), tmp_path, "run", batch_size=2, steps=60, eval_every=5,
                               checkpoint_every=1, max_minutes=0)
    cmd = [sys.executable, "-m", "motionclip_blender.core.cli", "train", "--config", str(config)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    steps_seen = []
    state = tmp_path / "run" / "last" / "train_state.pt"
    for extra in (0.05, 0.3, 0.6):  # saves happen every step: these land at different points of a save
        started = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        while time.time() < started + 120 and proc.poll() is None:  # until this run has saved at least once
            if state.is_file() and state.stat().st_mtime > started:
                break
            time.sleep(0.05)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate()[0].decode(errors="replace")
        assert "Traceback" not in out, out[-2000:]
        last = recover(tmp_path / "run" / "last")
        if last is not None:
            load_checkpoint(last)
            steps_seen.append(int(torch.load(last / "train_state.pt", weights_only=True)["step"]))
    assert steps_seen and steps_seen == sorted(steps_seen) and steps_seen[-1] > 0
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming from last at step {steps_seen[-1]}" in done.stdout or "resuming from last" in done.stdout
    assert int(torch.load(tmp_path / "run" / "last" / "train_state.pt", weights_only=True)["step"]) == 60
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_weights_without_state_are_not_overwritten(tmp_path):
    from motionclip_blender.core.training.train import _resumable

    save_checkpoint(_weights(3), META, tmp_path / "run" / "best")
    with pytest.raises(ValueError, match="no training state"):
        _resumable(tmp_path / "run")
    save_checkpoint(_weights(3), META, tmp_path / "run2" / "best",
                    extra={"train_state.pt": lambda p: torch.save({"step": 7}, p)})
    where, state = _resumable(tmp_path / "run2")  # last lost: continue from best, not from 0
    assert where.name == "best" and state["step"] == 7
