"""Run the prompt suite (``prompt_suite.py``) on a model, beside real windows of the same families.

For each prompt: the clip generated with seed None and ``variations`` seeded takes, each judged by its
family's criterion; the pose energy of every clip; the plausibility (foot skating, jitter, penetration) of
all of them. For each family: the same criterion on real 2-s windows (test split first, else validation,
else training - the table says which), so generated and real are read side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .evaluate import physical_metrics
from .prompt_suite import SuiteEntry, judge, load_suite, pose_difference, pose_energy


REPEAT_M = 0.005  # two takes closer than this (root-relative, mean joint) are the same take


def real_windows_by_family(data_root: str, corpora, fps: float, frames: int, per_family: int = 12) -> dict:
    """family -> (split used, list of Motions): up to ``per_family`` windows, evenly spread over its trials."""
    from .corpus import split_trials
    from .dataset import fixed_windows, load_clips

    out: dict[str, tuple[str, list]] = {}
    for part in ("test", "val", "train"):
        trials = [t for t in split_trials(data_root, corpora, part) if t.family]
        missing = {t.family for t in trials} - set(out)
        if not missing:
            continue
        clips = load_clips([t for t in trials if t.family in missing], fps, progress=False)
        family_of = {(t.id if t.corpus == "cmu" else f"{t.corpus}:{t.id}"): t.family for t in trials}
        for fam in sorted(missing):
            own = [c for c in clips if family_of[c.trial] == fam]
            windows = fixed_windows(own, frames, stride=frames // 2, min_frames=frames // 2)
            if windows:
                pick = np.linspace(0, len(windows) - 1, min(per_family, len(windows))).round().astype(int)
                out[fam] = (part, [windows[i].motion for i in sorted(set(pick))])
    return out


def run_suite(model, entries: list[SuiteEntry] | None = None, variations: int = 3, real: dict | None = None,
              progress: bool = True, **generate_options) -> dict:
    """Judge every prompt of the suite; ``real`` as from :func:`real_windows_by_family` (optional)."""
    entries = entries or load_suite()
    rows, generated, energies = [], [], []
    for entry in tqdm(entries, desc="prompt suite", unit="family", disable=not progress):
        frames = int(round(entry.seconds * model.fps))
        for prompt in entry.prompts:
            takes, first = [], None
            for seed in [None] + list(range(1, variations + 1)):
                motion = model.generate(prompt, frames=frames, seed=seed, **generate_options)
                pos = motion.joint_positions().astype(np.float64)
                passed, figures = judge(entry.criterion, pos, motion.fps)
                take = {"seed": seed, "passed": passed, "figures": figures, "pose_energy_m": pose_energy(pos)}
                if first is None:
                    first = pos
                else:
                    take["pose_difference_m"] = pose_difference(pos, first)  # from the seed-None take
                takes.append(take)
                generated.append(motion)
                energies.append(pose_energy(pos))
            rows.append({"family": entry.family, "criterion": entry.criterion, "prompt": prompt, "takes": takes})
    real_rows = {}
    for entry in entries:
        if real and entry.family in real and entry.family not in real_rows:
            part, motions = real[entry.family]
            verdicts = [judge(entry.criterion, m.joint_positions().astype(np.float64), m.fps)[0] for m in motions]
            real_rows[entry.family] = {"split": part, "windows": len(motions), "pass_rate": float(np.mean(verdicts)),
                                       "pose_energy_m": float(np.median([pose_energy(m.joint_positions())
                                                                         for m in motions]))}
    plain = [r["takes"][0]["passed"] for r in rows]
    seeded = [t["passed"] for r in rows for t in r["takes"][1:]]
    differences = [t["pose_difference_m"] for r in rows for t in r["takes"][1:]]
    real_motions = [m for _, ms in (real or {}).values() for m in ms]
    return {
        "prompts": len(rows), "rows": rows, "real": real_rows,
        "pass_rate": float(np.mean(plain)), "variation_pass_rate": float(np.mean(seeded)) if seeded else None,
        # a variation that repeats the seed-None take would pass as often as it does, so count the repeats
        "variation_repeat_rate": float(np.mean(np.array(differences) < REPEAT_M)) if differences else None,
        "median_variation_difference_m": float(np.median(differences)) if differences else None,
        "median_pose_energy_m": float(np.median(energies)),
        "real_median_pose_energy_m": float(np.median([pose_energy(m.joint_positions()) for m in real_motions]))
        if real_motions else None,
        "plausibility": {"generated": physical_metrics(generated),
                         "real": physical_metrics(real_motions) if real_motions else None},
    }


def format_suite(result: dict, title: str) -> str:
    rows = [f"{title}: {result['prompts']} prompts; passed {result['pass_rate']:.0%} with seed None, "
            + (f"{result['variation_pass_rate']:.0%} of seeded variations ({result['variation_repeat_rate']:.0%} "
               f"repeat the seed-None take; median pose difference from it "
               f"{result['median_variation_difference_m'] * 100:.1f} cm)" if result["variation_pass_rate"]
               is not None else "no variations"),
            "", "| family | criterion | prompt | seed None | variations | pose energy (cm) | measured (seed None) |"
            " real: pass (split, windows) | real energy (cm) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        first, rest = r["takes"][0], r["takes"][1:]
        real = result["real"].get(r["family"])
        measured = ", ".join(f"{k} {v:g}" for k, v in first["figures"].items())
        real_cells = (f"{real['pass_rate']:.0%} ({real['split']}, {real['windows']}) | {real['pose_energy_m'] * 100:.1f}"
                      if real else "- | -")
        rows.append(f"| {r['family']} | {r['criterion']} | {r['prompt']} | {'pass' if first['passed'] else 'fail'} | "
                    f"{sum(t['passed'] for t in rest)}/{len(rest)} | {first['pose_energy_m'] * 100:.1f} | {measured} | "
                    f"{real_cells} |")
    p = result["plausibility"]
    rows += ["", f"median pose energy: generated {result['median_pose_energy_m'] * 100:.1f} cm"
             + (f", real {result['real_median_pose_energy_m'] * 100:.1f} cm" if result["real_median_pose_energy_m"]
                else ""), "", "| plausibility | generated | real |", "| --- | --- | --- |"]
    for key, label in (("foot_skating_m_s", "foot skating (m/s)"), ("jitter_m_s3", "jitter (m/s^3)"),
                       ("ground_penetration_mm", "ground penetration (mm)")):
        real_value = f"{p['real'][key]:.3f}" if p["real"] else "-"
        rows.append(f"| {label} | {p['generated'][key]:.3f} | {real_value} |")
    return "\n".join(rows)


def evaluate_prompts(model_path: str | None, suite_path: str | None, data_root: str, corpora, json_path: str | None,
                     variations: int = 3) -> dict:
    from ..model.api import load_model

    model = load_model(model_path)
    real = real_windows_by_family(data_root, corpora, model.fps, model.frames) if data_root else None
    result = run_suite(model, load_suite(suite_path), variations, real)
    print(format_suite(result, f"{model.name}: prompt suite"))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"wrote {json_path}")
    return result
