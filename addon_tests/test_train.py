"""Training command on a tiny slice of the real CMU data: runs, checkpoints, resumes, evaluates."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motionclip_blender.core.model.api import load_model
from motionclip_blender.core.model.checkpoint import load_checkpoint
from motionclip_blender.core.training.corpus import clean_prompt, load_split, mirror_prompt, read_index
from motionclip_blender.core.training.evaluate import compute_metrics, evaluate, format_table
from motionclip_blender.core.training.train import TrainConfig, train
from motionclip_blender.core.paths import data_root

DATA = data_root() / "cmu"
pytestmark = pytest.mark.skipif(not (DATA / "index.json").is_file(), reason=f"CMU data not found at {DATA}")


def test_prompt_cleaning_and_mirroring():
    assert clean_prompt("playground - climb, sit") == "playground, climb, sit"
    assert clean_prompt("run/jog") == "run or jog"
    assert clean_prompt("Start Walk Stop") == "start walk stop"
    assert mirror_prompt("forward dribble, 90-degree left turns") == "forward dribble, 90-degree right turns"
    assert mirror_prompt("right hand over left") == "left hand over right"


def test_split_is_by_performer_disjoint_and_covers_every_performer():
    """Both corpora: no performer in two parts, and every performer of the data (CMU subjects incl. the new
    35, 49, 60, 61; all HDM05 actors) in some part."""
    split = load_split()
    assert set(split) == {"cmu", "hdm05"}
    for corpus, parts in split.items():
        sets = [set(parts[k]) for k in ("train", "val", "test")]
        assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2]), corpus
        performers = {t.performer for t in read_index(DATA.parent / corpus, corpus)}
        assert set().union(*sets) == performers, (corpus, performers - set().union(*sets))
        assert all(sets), f"{corpus}: every part needs performers"


def test_every_test_action_is_trained_on_other_performers():
    """Held-out performers measure generalisation to new people (and conventions), not to actions that no
    training performer does: each test trial's action family has training trials, on the same skeleton
    convention for CMU so a convention cannot stand in for an action."""
    split = load_split()
    trials = json.loads((DATA / "index.json").read_text())["trials"]
    skeleton = {t["id"]: t["skeleton"] for t in trials}
    for corpus in ("cmu", "hdm05"):
        everything = read_index(DATA.parent / corpus, corpus)
        train = [t for t in everything if t.performer in split[corpus]["train"]]
        test = [t for t in everything if t.performer in split[corpus]["test"]]
        assert test and all(t.family for t in test), [t.id for t in test if not t.family]
        seen = {(t.family, skeleton.get(t.id)) for t in train}
        unseen = [t.id for t in test if (t.family, skeleton.get(t.id)) not in seen]
        assert not unseen, unseen


def test_trials_train_with_everyday_phrasings_of_their_family():
    everything = read_index(DATA.parent / "hdm05", "hdm05") + read_index(DATA, "cmu")
    by_id = {t.id: t for t in everything}
    walk = by_id["35_01"]
    assert walk.family == "walk" and walk.prompt == "walk" and "someone strolls along" in walk.texts
    kick = next(t for t in everything if t.corpus == "hdm05" and "kick" in t.id)
    assert kick.family == "kick" and kick.prompt.startswith("a person kicks") and len(kick.texts) >= 4
    assert by_id["60_01"].family == "salsa" and by_id["09_01"].periodic and not kick.periodic
    families = {t.family for t in everything}
    assert len(families) >= 20 and sum(t.family is None for t in everything) == 0


@pytest.fixture()
def tiny_data(tmp_path):
    return _tiny_data_at(tmp_path)


def _tiny_data_at(tmp_path):
    """An index with two train trials (subject 7) and one val trial (subject 131), read in place."""
    trials = json.loads((DATA / "index.json").read_text())["trials"]
    keep = [dict(t, file=str(DATA / t["file"])) for t in trials if t["id"] in ("07_01", "07_02", "131_01")]
    assert len(keep) == 3
    (tmp_path / "data" / "cmu").mkdir(parents=True)
    (tmp_path / "data" / "cmu" / "index.json").write_text(json.dumps({"trials": keep}))
    return tmp_path / "data"


def _tiny_config(tiny_data, tmp_path, run="run"):
    cfg = TrainConfig.from_file(Path(__file__).resolve().parents[1] / "configs" / "bundled_v03.json")
    cfg.data_root, cfg.corpora = str(tiny_data), ["cmu"]
    cfg.out_dir, cfg.cache_dir = str(tmp_path / run), str(tmp_path / "cache")
    cfg.model.d_model, cfg.model.ff_size = 32, 64
    cfg.model.num_encoder_layers = cfg.model.num_decoder_layers = 1
    cfg.threads = 1  # deterministic kernels: an interrupted run can then match an uninterrupted one exactly
    cfg.stats_windows = 64  # the feature statistics of a tiny run: 2048 augmented windows took 9 s per run
    return cfg


def _tiny_config_file(tiny_data, tmp_path, run, **changes) -> Path:
    """``_tiny_config`` with ``changes``, written as a config file (for runs in another process)."""
    cfg = _tiny_config(tiny_data, tmp_path, run)
    for name, value in changes.items():
        setattr(cfg, name, value)
    path = tmp_path / f"{run}.json"
    path.write_text(json.dumps(cfg.to_dict()))
    return path


def test_train_checkpoints_resumes_and_evaluates(tiny_data, tmp_path):
    cfg = _tiny_config(tiny_data, tmp_path)
    cfg.losses.text_rc = 0.25  # the optional decode-the-text path stays exercised
    # exact continuation needs a schedule that does not depend on the total steps (changed below)
    cfg.lr_schedule, cfg.warmup_steps = "constant", 1
    cfg.batch_size, cfg.steps, cfg.eval_every, cfg.checkpoint_every, cfg.max_minutes = 4, 3, 2, 2, 0
    best = train(cfg, progress=False)
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 3] and {"rc", "rcxyz", "vel", "text", "text_rc"} <= set(log[0]["train"])
    assert best.name == "best" and (tmp_path / "run" / "last" / "model.safetensors").is_file()
    assert len(list((tmp_path / "cache" / "cmu").glob("*.npz"))) == 3  # imported once, cached
    cfg.steps = 5
    train(cfg, progress=False)  # resumes at step 3
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 3, 4, 5]
    assert log[-1]["time_s"] >= log[1]["time_s"]  # time accumulates across the resume
    # the interrupted run continues where an uninterrupted one would be: within 1e-4, float reduction order
    # (pre-norm attention kernels) moves Adam's first steps by ~1e-5; a resume that lost the optimiser moments,
    # the windows or the step differs by the learning rate (7e-4) per step
    cfg.out_dir = str(tmp_path / "straight")
    train(cfg, progress=False)
    resumed, _ = load_checkpoint(tmp_path / "run" / "last")
    straight, _ = load_checkpoint(tmp_path / "straight" / "last")
    for (name, a), (_, b) in zip(resumed.state_dict().items(), straight.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-4), (name, float((a - b).abs().max()))
    model = load_model(best)
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips

    val = load_clips(split_trials(tiny_data, ["cmu"], "val"), cache_dir=tmp_path / "cache", progress=False)
    metrics = compute_metrics(model, val, fit_steps=3)
    assert metrics["windows"] > 0 and metrics["reconstruction"]["mpjpe_mm"] > 0
    r = metrics["reconstruction"]  # per joint and frame |a - b| lies between the difference and the sum of its parts
    assert abs(r["root_relative_mpjpe_mm"] - r["root_path_error_mm"]) - 1e-3 <= r["mpjpe_mm"]
    assert r["mpjpe_mm"] <= r["root_relative_mpjpe_mm"] + r["root_path_error_mm"] + 1e-3
    assert sum(f["windows"] for f in r["by_family"].values()) == metrics["windows"]  # every window in one family
    assert r["fitted"]["steps"] == 3 and 0 < r["fitted"]["mpjpe_mm"] < r["mpjpe_mm"]  # fitting only gets closer
    assert r["fitted"]["by_family"]["walk"]["mpjpe_mm"] == pytest.approx(r["fitted"]["mpjpe_mm"])
    assert r["by_family"]["walk"]["mpjpe_mm"] == pytest.approx(r["mpjpe_mm"])  # 131_01: a walk, the one family
    assert 0 <= metrics["recognition"]["top1"] <= 1 and metrics["plausibility"]["real"]["ground_penetration_mm"] < 20
    rec = metrics["recognition"]  # one trial, one prompt: every summary of recognition agrees
    assert rec["majority_top1"] == 1.0 and rec["balanced_top1"] == rec["top1"] == 1.0
    assert "MPJPE" in format_table(metrics, "tiny") and "commonest prompt" in format_table(metrics, "tiny")
    assert f"walk {r['mpjpe_mm']:.0f} mm ({metrics['windows']})" in format_table(metrics, "tiny")
    assert f"fitted 3 steps (root-relative / path) | {r['fitted']['mpjpe_mm']:.1f} mm" in format_table(metrics, "tiny")
    out = tmp_path / "evaluation.json"
    evaluate(str(best), str(tiny_data), str(out), split="val", corpora=["cmu"], linear_baseline=True)
    baseline = json.loads(out.read_text())["linear_baseline"]
    assert baseline["model"]["mpjpe_mm"] > 0 and baseline["linear"]["mpjpe_mm"] > 0
    assert baseline["components"] == baseline["training_windows"] < 384  # two short training trials


def test_bad_config_is_named(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"stepz": 3}))
    with pytest.raises(ValueError, match="stepz"):
        TrainConfig.from_file(tmp_path / "c.json")
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), stats_windows=1)
    with pytest.raises(ValueError, match="stats_windows must be at least 2"):
        train(cfg, progress=False)
    assert not (tmp_path / "run").exists()


def test_data_without_validation_trials_is_named(tiny_data, tmp_path):
    index = json.loads((tiny_data / "cmu" / "index.json").read_text())
    index["trials"] = [t for t in index["trials"] if t["subject"] == 7]
    (tiny_data / "cmu" / "index.json").write_text(json.dumps(index))
    cfg = TrainConfig(data_root=str(tiny_data), corpora=["cmu"], out_dir=str(tmp_path / "run"),
                      cache_dir=str(tmp_path / "cache"), steps=1)
    with pytest.raises(ValueError, match="no validation windows"):
        train(cfg, progress=False)
    assert not (tmp_path / "run" / "last").exists()


def test_distributed_training_with_torchrun(tiny_data, tmp_path):
    """Two CPU ranks through torchrun (gloo): gradients are all-reduced and rank 0 writes the checkpoint."""
    import subprocess
    import sys

    config = _tiny_config_file(tiny_data, tmp_path, "ddp", batch_size=2, steps=2, eval_every=2, checkpoint_every=2,
                               max_minutes=0)
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
         "-m", "motionclip_blender.core.cli", "train", "--config", str(config)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    log = [json.loads(l) for l in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2]  # one writer: rank 0
    assert load_model(tmp_path / "ddp" / "best").frames == 60


def test_window_sampler_lengths_balance_and_augmentation():
    from motionclip_blender.core.training.dataset import Clip, WindowSampler
    from motionclip_blender.core.motion.motion import Motion

    from .test_motion import random_motion

    clips = [Clip("long", "walk to the left", random_motion(600, seed=1)), Clip("short", "run", random_motion(35, seed=2))]
    with pytest.raises(ValueError, match="at least 60"):
        WindowSampler([clips[1]], frames=60)
    sampler = WindowSampler(clips, frames=60, min_frames=30, seed=0)
    enc_in, target, mask, prompts = sampler.sample(400)
    lengths = mask.sum(1)
    assert lengths.min() >= 30 and lengths.max() == 60 and not (target[~mask] != 0).any()
    runs = sum(p == "run" for p in prompts)
    assert 150 < runs < 250  # trials equally likely although "short" has 6 % of the frames
    assert {"walk to the left", "walk to the right"} <= set(prompts)  # mirrored text follows the motion
    assert all(l <= 35 for l, p in zip(lengths.tolist(), prompts) if p == "run")
    # targets are canonical (start at the origin facing -Y); encoder inputs may be turned
    first = Motion.from_features(target[0, :1])
    assert abs(float(first.heading()[0])) < 1e-3 and np.allclose(first.translation[0, :2], 0, atol=1e-5)
    frame_sampler = WindowSampler(clips, frames=60, min_frames=30, seed=0, balance="frame")
    assert sum(p == "run" for p in frame_sampler.sample(400)[3]) < 60
    # "mixed": half of each, so the short trial gets (50 % + 5.5 %) / 2 of the windows
    mixed = WindowSampler(clips, frames=60, min_frames=30, seed=0, balance="mixed")
    assert 80 < sum(p == "run" for p in mixed.sample(400)[3]) < 145
    with pytest.raises(ValueError, match="balance must be one of trial, frame, mixed, family"):
        WindowSampler(clips, frames=60, balance="length")


def test_family_balance_gives_each_action_family_an_equal_share():
    """Three walk trials and one punch trial: "trial" shows the punch a quarter of the time, "family" half."""
    from motionclip_blender.core.training.dataset import Clip, WindowSampler

    from .test_motion import random_motion

    clips = [Clip(f"w{i}", "walk", random_motion(90, seed=i), family="walk") for i in range(3)]
    clips.append(Clip("p", "punch", random_motion(90, seed=9), family="punch"))
    punches = {balance: sum(p == "punch" for p in WindowSampler(clips, frames=60, seed=0, balance=balance,
                                                                 mirror_prob=0.0).sample(800)[3])
               for balance in ("trial", "family")}
    assert 150 < punches["trial"] < 250 and 340 < punches["family"] < 460
    unlabeled = [Clip("a", "a", random_motion(90, seed=1)), Clip("b", "b", random_motion(90, seed=2)),
                 Clip("w", "walk", random_motion(90, seed=3), family="walk")]
    shares = WindowSampler(unlabeled, frames=60, seed=0, balance="family").weights
    assert np.allclose(shares, 1 / 3)  # a trial without a family is its own


def test_a_cosine_schedule_resumes(tiny_data, tmp_path):
    """The optimiser state written past the warm-up (cosine learning rates) loads with torch.load(weights_only)."""
    from motionclip_blender.core.training.train import lr_factor

    cfg = _tiny_config(tiny_data, tmp_path)
    cfg.lr_schedule, cfg.warmup_steps, cfg.steps, cfg.eval_every, cfg.checkpoint_every = "cosine", 1, 2, 2, 1
    cfg.batch_size = 2
    assert type(lr_factor(cfg, 1)) is float and type(lr_factor(cfg, 0)) is float
    train(cfg, progress=False)
    cfg.steps = 3
    train(cfg, progress=False)
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 3]


def _finished_tiny_run(tiny_data, tmp_path):
    """The checkpoint of a two-step tiny run, for runs that start from its weights."""
    first = _tiny_config(tiny_data, tmp_path, "first")
    first.batch_size, first.steps, first.eval_every, first.checkpoint_every = 2, 2, 2, 2
    train(first, progress=False)
    return tmp_path / "first" / "last"


def test_init_from_continues_other_weights_with_another_dropout(tiny_data, tmp_path):
    """How the bundled model grows across sessions: a new run starts from a finished model's weights; dropout may
    change (a training choice), the architecture may not."""
    from motionclip_blender.core.errors import InputError

    source = _finished_tiny_run(tiny_data, tmp_path)
    cfg = _tiny_config(tiny_data, tmp_path, "second")
    cfg.batch_size, cfg.steps, cfg.eval_every, cfg.checkpoint_every = 2, 1, 1, 1
    cfg.init_from, cfg.model.dropout, cfg.lr, cfg.warmup_steps = str(source), 0.3, 1e-9, 1
    train(cfg, progress=False)
    before, after = load_checkpoint(source)[0].state_dict(), load_checkpoint(tmp_path / "second" / "last")[0].state_dict()
    assert load_checkpoint(tmp_path / "second" / "last")[1].model.dropout == 0.3
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    other = _tiny_config(tiny_data, tmp_path, "third")
    other.init_from, other.model.d_model = str(source), 48
    with pytest.raises(InputError, match="architecture or text space differs"):
        train(other, progress=False)


def test_encoder_only_training_keeps_the_decoder_bit_for_bit(tiny_data, tmp_path):
    """train_parts "encoder": the decoder that renders the bank stays exactly as init_from left it (weights and
    feature statistics), the encoder learns; it needs a decoder to keep and a known part name."""
    from motionclip_blender.core.errors import InputError

    source = _finished_tiny_run(tiny_data, tmp_path)
    cfg = _tiny_config(tiny_data, tmp_path, "encoder_only")
    cfg.batch_size, cfg.steps, cfg.eval_every, cfg.checkpoint_every = 2, 3, 3, 3
    cfg.init_from, cfg.train_parts, cfg.lr, cfg.warmup_steps, cfg.model.dropout = str(source), "encoder", 1e-2, 1, 0.2
    train(cfg, progress=False)
    before = load_checkpoint(source)[0].state_dict()
    after = load_checkpoint(tmp_path / "encoder_only" / "last")[0].state_dict()
    kept = [k for k in before if not k.startswith("encoder.")]
    assert any(k.startswith("decoder.") for k in kept) and "feature_std" in kept
    assert all(torch.equal(before[k], after[k]) for k in kept)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    bad = _tiny_config(tiny_data, tmp_path, "bad")
    bad.train_parts = "decoder"
    with pytest.raises(InputError, match="train_parts must be one of"):
        train(bad, progress=False)
    bad.train_parts = "encoder"
    with pytest.raises(InputError, match="keeps the decoder of init_from"):
        train(bad, progress=False)
