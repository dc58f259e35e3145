"""The bundled model judged as an animator would: the public prompt suite, pose energy against real windows,
held-out reconstruction and recognition, contact, any length and loops. Behaviour, not shapes."""

from pathlib import Path

import numpy as np
import pytest

from motionclip_blender.core.paths import model_dir
from motionclip_blender.core.training.prompt_suite import SIDES, ankle_swing, foot_lift, pose_energy
from motionclip_blender.core.paths import data_root

DATA = data_root()
needs_data = pytest.mark.skipif(not (DATA / "hdm05" / "index.json").is_file(), reason=f"no data at {DATA}")


@pytest.fixture(scope="module")
def model():
    """The bundled model ships in the repository: its absence is a failure, not a skip."""
    from motionclip_blender.core.model.api import load_model

    assert (model_dir() / "config.json").is_file(), f"no bundled model in {model_dir()}"
    return load_model()


@pytest.fixture(scope="module")
def suite(model):
    from motionclip_blender.core.training.suite_eval import real_windows_by_family, run_suite

    real = real_windows_by_family(str(DATA), ("cmu", "hdm05"), model.fps, model.frames) \
        if (DATA / "hdm05" / "index.json").is_file() else None
    return run_suite(model, variations=3, real=real, progress=False)


@pytest.fixture(scope="module")
def test_split(model):
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips
    from motionclip_blender.core.training.evaluate import compute_metrics

    clips = load_clips(split_trials(DATA, ("cmu", "hdm05"), "test"), model.fps, progress=False)
    return compute_metrics(model, clips)


def test_bundled_model_identity(model):
    assert model.encoder_name == "minilm:all-MiniLM-L6-v2" and model.fps == 30 and model.frames == 60
    assert model.bank is not None and len(model.bank) > 1000
    card = (model_dir() / "MODEL_CARD.md").read_text()
    assert "HDM05" in card and "CC BY-SA 3.0" in card and "mocap.cs.cmu.edu" in card


@needs_data
def test_the_prompt_suite_passes(suite):
    """>= 80 % of the suite's prompts with seed None and >= 60 % of seeded variations do what they say, and the
    variations are other takes: none repeats the seed-None take, and they differ from it by more pose than the
    2 cm of v0.2's variations (one take on other paths)."""
    failed = [f"{r['prompt']} ({r['criterion']})" for r in suite["rows"] if not r["takes"][0]["passed"]]
    print(f"suite: {suite['pass_rate']:.0%} plain, {suite['variation_pass_rate']:.0%} variations "
          f"({suite['variation_repeat_rate']:.0%} repeats, median difference "
          f"{suite['median_variation_difference_m'] * 100:.1f} cm); failed: {failed}")
    assert suite["pass_rate"] >= 0.8 and suite["variation_pass_rate"] >= 0.6
    assert suite["variation_repeat_rate"] <= 0.05 and suite["median_variation_difference_m"] >= 0.05


@needs_data
def test_generated_motion_moves_like_real_motion(suite, model):
    """Median pose energy >= 0.7x real windows of the same families; a generated walk's ankles swing >= 40 cm."""
    ratio = suite["median_pose_energy_m"] / suite["real_median_pose_energy_m"]
    pos = model.generate("walk forward").joint_positions()
    swing = max(ankle_swing(pos, s) for s in SIDES)
    print(f"pose energy {suite['median_pose_energy_m'] * 100:.1f} cm vs real "
          f"{suite['real_median_pose_energy_m'] * 100:.1f} cm ({ratio:.2f}x); walk ankle swing {swing:.2f} m")
    assert ratio >= 0.7 and swing >= 0.40


@needs_data
def test_held_out_recognition(test_split):
    """Test-split performers: zero-shot recognition among the split's prompts, per-prompt mean top-1 >= 2x chance."""
    rec = test_split["recognition"]
    print(f"top-1 per prompt {rec['balanced_top1']:.3f} (chance {rec['chance_top1']:.3f})")
    assert rec["balanced_top1"] >= 2 * rec["chance_top1"]


@needs_data
@pytest.mark.xfail(strict=True, reason="v0.5 reconstructs held-out performers at 393 mm MPJPE from its encoder's "
                                       "latents, 157 mm from fitted ones, 83 mm outside the one salsa dancer who is "
                                       "108 of the 189 test windows (issue 12 asks <= 80 mm)")
def test_held_out_reconstruction(test_split):
    mpjpe = test_split["reconstruction"]["mpjpe_mm"]
    print(f"MPJPE {mpjpe:.0f} mm")
    assert mpjpe <= 80


def test_generated_motion_stands_on_the_floor(model):
    """Mean ground penetration <= 2 mm, no foot more than 1 cm under the floor, over the suite's walks, runs and
    jumps (foot clean-up on, as generate does by default)."""
    depths = []
    for prompt in ("walk forward", "run", "jump", "squat down", "kick"):
        pos = model.generate(prompt).joint_positions()
        depths.append(np.clip(-pos[:, :, 2].min(axis=1), 0, None))
    depth = np.concatenate(depths)
    assert depth.mean() <= 0.002 and depth.max() <= 0.01


@needs_data
def test_walk_foot_skating_is_within_1_5x_real_cmu_walks(model):
    """Issue 15: the card's foot skating (mean horizontal speed of foot joints within 5 cm of the floor) over
    the suite's walk prompts, three takes each, 4 s, with the default clean-up, against 4-s windows of the CMU
    walks of the training split measured the same way."""
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips
    from motionclip_blender.core.training.evaluate import physical_metrics

    prompts = ["walk forward", "a person walks", "walking down the street", "walk slowly", "a slow stroll",
               "walk fast", "a brisk walk"]
    generated = [model.generate(p, frames=120, seed=seed) for p in prompts for seed in (None, 1, 2)]
    trials = [t for t in split_trials(DATA, ("cmu",), "train") if t.family == "walk"][:15]
    real = [m[s:s + 120] for m in (c.motion for c in load_clips(trials, model.fps, progress=False))
            for s in range(0, max(1, len(m) - 120), 120)][:40]
    gen_skate = physical_metrics(generated)["foot_skating_m_s"]
    real_skate = physical_metrics(real)["foot_skating_m_s"]
    print(f"foot skating: generated {gen_skate:.3f} m/s, real {real_skate:.3f} m/s ({gen_skate / real_skate:.2f}x)")
    assert len(real) >= 20 and gen_skate <= 1.5 * real_skate


def test_a_ten_second_walk_keeps_going(model):
    """Root speed in each 2-s segment within +-20 % of the median; each foot lifts >= 5 cm in every 2 s."""
    pos = model.generate("walk forward", frames=300).joint_positions()
    speeds = np.array([np.linalg.norm(pos[i + 59, 0, :2] - pos[i, 0, :2]) / 2 for i in range(0, 300, 60)])
    lifts = [min(foot_lift(pos[i:i + 60], s) for s in SIDES) for i in range(0, 300, 60)]
    print(f"speeds per 2 s {np.round(speeds, 2)}, smallest lift per 2 s {np.round(lifts, 3)}")
    assert np.abs(speeds / np.median(speeds) - 1).max() <= 0.2 and min(lifts) >= 0.05


def test_walk_slowly_is_slower_than_walk_fast(model):
    """Within a family the bank's latents are about equally near every phrasing; the windows' own texts
    decide, so the speed asked for is the speed made (v0.5 without them: 1.51 and 1.95 m/s)."""
    speed = {}
    for prompt in ("walk slowly", "walk fast"):
        pos = model.generate(prompt, frames=120).joint_positions()
        speed[prompt] = float(np.linalg.norm(pos[-1, 0, :2] - pos[0, 0, :2])) / 4
    print(speed)
    assert speed["walk slowly"] <= 1.3 and speed["walk fast"] - speed["walk slowly"] >= 0.4


@pytest.mark.parametrize("prompt", ["walk forward", "run", "dance salsa"])
def test_loops_are_seamless(model, prompt):
    from motionclip_blender.core.motion.timeline import _posed

    loop = model.generate(prompt, frames=90, loop=True)
    x = _posed(loop)
    steps = np.linalg.norm(np.diff(x, axis=0), axis=-1)
    seam = np.linalg.norm(x[0] - x[-1])
    print(f"{prompt}: {len(loop)} frames, seam {seam:.3f} vs median step {np.median(steps):.3f}")
    assert seam <= 1.5 * np.median(steps) + 1e-6


def test_variations_are_other_takes(model):
    """Seeded variations differ in pose, not only in path: pose energy of their difference after removing the
    root path is well above zero."""
    a = model.generate("walk forward", seed=1).joint_positions()
    b = model.generate("walk forward", seed=2).joint_positions()
    rel_a, rel_b = a - a[:, :1], b - b[:, :1]
    apart = np.linalg.norm(rel_a - rel_b, axis=-1).mean()
    print(f"variations 1 and 2 of a walk differ by {apart * 100:.1f} cm of pose")
    assert apart > 0.03 and pose_energy(a) > 0.03 and pose_energy(b) > 0.03


def test_keys_from_a_real_walk_hold_without_pops(model):
    """Issue 16: two poses of a held-out walk as keys (root keyed too) with the prompt "a person walks": the
    result passes through them exactly, and near the keys no frame moves a joint more than twice the clip's
    median frame-to-frame step (plain Generate's own clip reaches 3x there)."""
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips

    walks = [t for t in split_trials(DATA, ["cmu"], "test") if t.family == "walk"]
    real = max(load_clips(walks, 30.0, progress=False), key=lambda c: len(c.motion)).motion[40:100].canonical()
    keys = {10: real[10:11], 45: real[45:46]}
    out = model.generate("a person walks", frames=60, keys=keys, key_root=True)
    for k, pose in keys.items():
        dot = np.abs((out.rotations[k].astype(np.float64) * pose.rotations[0]).sum(-1))
        assert np.degrees(2 * np.arccos(np.clip(dot, 0, 1))).max() < 0.1
        assert np.linalg.norm(out.translation[k] - pose.translation[0]) < 1e-4
    steps = np.linalg.norm(np.diff(out.joint_positions(), axis=0), axis=-1).max(axis=1)
    near = [i for i in range(len(steps)) if any(abs(i - k) <= 10 for k in keys)]
    print(f"largest step near the keys {steps[near].max() / np.median(steps):.2f}x the median")
    assert steps[near].max() <= 2 * np.median(steps)


def test_a_three_part_sequence_is_recognised_part_by_part(model):
    """Issue 16: "walk forward, then jump, then squat down" gives three segments; each segment's encoding is
    nearest (among the three part texts) to its own part, and the root never jumps at a seam."""
    prompt = "walk forward (2 s), then jump (2 s), then squat down (2 s)"
    motion, segments = model.generate_sequence(prompt)
    texts = [s.text for s in segments]
    assert texts == ["walk forward", "jump", "squat down"]
    text_z = model.text_latent(texts)
    picked = [int(np.argmax((text_z @ model.encode(motion[s.start:s.end])).numpy())) for s in segments]
    root = motion.translation
    steps = np.linalg.norm(np.diff(root, axis=0), axis=-1)
    seams = [s.start for s in segments[1:]]
    near = max(steps[max(0, k - 3):k + 3].max() for k in seams)
    print(f"recognised {picked}; largest root step at a seam {near * 100:.1f} cm (clip's 95th pct "
          f"{np.percentile(steps, 95) * 100:.1f} cm)")
    assert picked == [0, 1, 2]
    assert near <= max(0.05, np.percentile(steps, 95))  # no teleport: no more than the motion's own fast frames


def test_text_search_over_the_cmu_trials_finds_the_action(model):
    """Issue 16: over every CMU trial of shared/data, for jump, walk, run, dance and climb at least 4 of the top 5
    are trials whose description names the action; a second search over 100 motions is served from the cache."""
    import json
    import re
    import time

    from motionclip_blender.core.model.search import LatentCache, rank, read_folder

    described = {Path(t["file"]).name: t["description"].lower()
                 for t in json.loads((DATA / "cmu" / "index.json").read_text())["trials"]}
    motions, skipped = read_folder(DATA / "cmu" / "trials", progress=False)
    assert len(motions) >= 140 and not skipped
    cache = LatentCache()
    words = {"jump": r"jump|hop|leap", "walk": r"walk", "run": r"\brun|jog", "dance": r"danc|salsa", "climb": r"climb"}
    for query, pattern in words.items():
        top = rank(model, query, motions, 5, cache)
        hits = sum(bool(re.search(pattern, described[name])) for name, _ in top)
        print(f"{query}: {hits}/5 {[described[n][:24] for n, _ in top]}")
        assert hits >= 4, query
    hundred = dict(list(motions.items())[:100])
    started = time.perf_counter()
    rank(model, "a person kicks", hundred, 5, cache)
    print(f"second search over 100 motions: {(time.perf_counter() - started) * 1000:.0f} ms")


def test_a_prompt_that_names_a_direction_travels_that_way(model):
    """The one navigate trial walks every way under one label; its windows' travel steers the pick."""
    from motionclip_blender.core.model.travel import window_travel

    def travel(prompt):
        motion = model.generate(prompt)
        return window_travel(motion.joint_positions(), motion.fps)

    forward, _ = travel("walk backwards")
    _, left = travel("strafe left")
    _, right = travel("sidestep to the right")
    print(f"walk backwards {forward:+.2f} m/s forward; strafe left {left:+.2f}, sidestep right {right:+.2f} m/s left")
    assert forward < -0.4 and left > 0.4 and right < -0.4
    assert travel("walk forward")[0] > 0.6


def test_a_dance_prompt_draws_a_window_that_dances(model):
    """v0.5's bank drew for "dance salsa" a window it decodes nearly still (1.8 cm of pose energy) from among
    near-tied windows that decode to 11-13 cm; the bank's lull rule ranks such windows lower."""
    energy = pose_energy(model.generate("dance salsa").joint_positions())
    print(f"dance salsa: pose energy {energy * 100:.1f} cm")
    assert energy >= 0.07
