"""``motionclip evaluate``: honest figures for a checkpoint on a held-out split.

- Reconstruction: MPJPE (mm, after encode -> decode, root included) and mean rotation error (degrees,
  geodesic, over the 24 local rotations) on fixed 2-second windows; beside the MPJPE, its two parts: the
  pose error with each frame's pelvis put on the real one (root-relative) and the pelvis path error.
- Zero-shot recognition: top-1 / top-5 of each window's own prompt among the split's distinct prompts
  (chance printed beside it).
- Text -> motion retrieval: for each distinct prompt, the windows ranked by cosine to its text
  embedding; R@k = share of prompts with a window of that prompt among the top k.
- Physical plausibility of generated motions (each distinct prompt decoded) next to the real windows:
  foot skating (mean horizontal foot speed while the foot is within 5 cm of the floor, m/s),
  jitter (mean joint jerk, m/s^3) and ground penetration (mean depth of the lowest joint below z=0, mm).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import InputError
from .corpus import split_trials
from .dataset import fixed_windows, load_clips
from .linear_baseline import linear_baseline_figures
from .reconstruction import family_means, reconstruction_errors
from ..motion.motion import Motion
from ..motion.skeleton import FOOT_JOINTS



def physical_metrics(motions: list[Motion]) -> dict[str, float]:
    skate, jitter, penetration = [], [], []
    for m in motions:
        pos = m.joint_positions().astype(np.float64)
        dt = 1.0 / m.fps
        feet = pos[:, FOOT_JOINTS]
        speed = np.linalg.norm(np.diff(feet[:, :, :2], axis=0), axis=-1) / dt
        contact = feet[1:, :, 2] < 0.05
        if contact.any():
            skate.append(float(speed[contact].mean()))
        if len(m) >= 4:
            jerk = np.diff(pos, n=3, axis=0) / dt ** 3
            jitter.append(float(np.linalg.norm(jerk, axis=-1).mean()))
        penetration.append(float(np.clip(-pos[:, :, 2].min(axis=1), 0, None).mean() * 1000))
    return {"foot_skating_m_s": float(np.mean(skate)) if skate else 0.0,
            "jitter_m_s3": float(np.mean(jitter)) if jitter else 0.0,
            "ground_penetration_mm": float(np.mean(penetration))}


def _rotation_error_deg(a: Motion, b: Motion) -> float:
    ma, mb = a.matrices().double(), b.matrices().double()
    rel = ma.transpose(-1, -2) @ mb
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return float(torch.rad2deg(torch.acos(cos)).mean())


def compute_metrics(model, clips, frames: int | None = None, min_frames: int | None = 30,
                    progress: bool = False, fit_steps: int = 0) -> dict:
    """All figures for one split. ``model`` is an api.MotionCLIP. Windows are ``frames`` long; clips
    shorter than that (but at least ``min_frames``) count as one window of their own length. ``fit_steps``:
    also the reconstruction from latents fitted that many steps (``fitting.py``, as clips are interpolated
    and edited)."""
    frames = frames or model.frames
    windows = fixed_windows(clips, frames, min_frames=min_frames)
    if not windows:
        raise InputError(f"no clip has {frames} frames to evaluate")
    mpjpe, relative, root, rot_err, latents = [], [], [], [], []
    for w in tqdm(windows, desc="evaluating", unit="window", disable=not progress):
        z = model.encode(w.motion)
        latents.append(z)
        rec = model.decode(z, len(w.motion))
        errors = reconstruction_errors(rec.joint_positions(), w.motion.joint_positions())
        for values, error in zip((mpjpe, relative, root), errors):
            values.append(error)
        rot_err.append(_rotation_error_deg(rec, w.motion))
    fitted = _fitted_reconstruction(model, windows, torch.stack(latents), fit_steps, progress) if fit_steps else None
    by_family = family_means(windows, mpjpe)
    z = torch.stack(latents)
    prompts = sorted({w.prompt for w in windows})
    text = model.text_latent(prompts)
    truth = torch.tensor([prompts.index(w.prompt) for w in windows])
    scores = z @ text.T
    ranks = (scores > scores.gather(1, truth[:, None])).sum(1)  # 0 = the right label is first
    # top-1 over windows rewards a model that names the commonest prompt; the per-prompt mean (chance 1/K
    # whatever the mix) and the majority rate are printed beside it so that cannot pass unnoticed
    per_prompt = [float((ranks[truth == p] < 1).float().mean()) for p in range(len(prompts))]
    majority = float(torch.bincount(truth).max()) / len(windows)
    retrieval = text @ z.T  # prompt x window
    hits = {k: 0 for k in (1, 5)}
    for p in range(len(prompts)):
        order = torch.argsort(retrieval[p], descending=True)
        for k in hits:
            hits[k] += int((truth[order[:k]] == p).any())
    generated = [model.generate(p, frames=frames) for p in prompts]
    return {
        "windows": len(windows), "prompts": len(prompts),
        "reconstruction": {"mpjpe_mm": float(np.mean(mpjpe)), "root_relative_mpjpe_mm": float(np.mean(relative)),
                           "root_path_error_mm": float(np.mean(root)),
                           "rotation_error_deg": float(np.mean(rot_err)), "by_family": by_family,
                           **({"fitted": fitted} if fitted else {})},
        "recognition": {"top1": float((ranks < 1).float().mean()), "top5": float((ranks < 5).float().mean()),
                        "balanced_top1": float(np.mean(per_prompt)), "majority_top1": majority,
                        "chance_top1": 1.0 / len(prompts), "chance_top5": min(1.0, 5.0 / len(prompts))},
        "retrieval_text_to_motion": {"R@1": hits[1] / len(prompts), "R@5": hits[5] / len(prompts)},
        "plausibility": {"generated": physical_metrics(generated),
                         "real": physical_metrics([w.motion for w in windows])},
    }


def _fitted_reconstruction(model, windows, latents: torch.Tensor, steps: int, progress: bool) -> dict:
    from ..model.bank import refine_codes

    codes = refine_codes(model, [w.motion for w in windows], latents, steps=steps, batch=64, progress=progress)
    errors = [reconstruction_errors(model.decode(z, len(w.motion)).joint_positions(), w.motion.joint_positions())
              for z, w in zip(codes, windows)]
    mpjpe, relative, path = np.mean(errors, axis=0).tolist()
    return {"steps": steps, "mpjpe_mm": mpjpe, "root_relative_mpjpe_mm": relative, "root_path_error_mm": path,
            "by_family": family_means(windows, [e[0] for e in errors])}


def _by_family(by_family: dict, shown: int = 6) -> str:
    order = sorted(by_family.items(), key=lambda kv: (-kv[1]["windows"], kv[0]))
    text = ", ".join(f"{name} {v['mpjpe_mm']:.0f} mm ({v['windows']})" for name, v in order[:shown])
    return text + (f", {len(order) - shown} more" if len(order) > shown else "")


def format_table(metrics: dict, title: str) -> str:
    r, c, t, p = (metrics["reconstruction"], metrics["recognition"], metrics["retrieval_text_to_motion"],
                  metrics["plausibility"])
    rows = [
        f"{title}: {metrics['windows']} windows, {metrics['prompts']} distinct prompts",
        "| metric | value |", "| --- | --- |",
        f"| reconstruction MPJPE | {r['mpjpe_mm']:.1f} mm |",
        f"| ... root-relative / pelvis path alone | {r['root_relative_mpjpe_mm']:.1f} / {r['root_path_error_mm']:.1f} mm |",
        *([f"| ... from latents fitted {r['fitted']['steps']} steps (root-relative / path) | "
           f"{r['fitted']['mpjpe_mm']:.1f} mm ({r['fitted']['root_relative_mpjpe_mm']:.1f} / "
           f"{r['fitted']['root_path_error_mm']:.1f}) |",
           f"| ... fitted, by action family | {_by_family(r['fitted']['by_family'])} |"] if "fitted" in r else []),
        f"| ... by action family, most windows first | {_by_family(r.get('by_family', {}))} |",
        f"| reconstruction rotation error | {r['rotation_error_deg']:.2f} deg |",
        f"| zero-shot recognition top-1 (chance) | {c['top1']:.3f} ({c['chance_top1']:.3f}) |",
        f"| recognition top-1 mean over prompts (chance) | {c['balanced_top1']:.3f} ({c['chance_top1']:.3f}) |",
        f"| top-1 of always naming the commonest prompt | {c['majority_top1']:.3f} |",
        f"| zero-shot recognition top-5 (chance) | {c['top5']:.3f} ({c['chance_top5']:.3f}) |",
        f"| text->motion retrieval R@1 / R@5 | {t['R@1']:.3f} / {t['R@5']:.3f} |",
        "", "| plausibility | generated | real |", "| --- | --- | --- |",
    ]
    for key, label in (("foot_skating_m_s", "foot skating (m/s)"), ("jitter_m_s3", "jitter (m/s^3)"),
                       ("ground_penetration_mm", "ground penetration (mm)")):
        rows.append(f"| {label} | {p['generated'][key]:.3f} | {p['real'][key]:.3f} |")
    return "\n".join(rows)


def evaluate(model_path: str | None, data_root: str, json_path: str | None, split: str = "test",
             corpora: list[str] | tuple[str, ...] = ("cmu", "hdm05"), linear_baseline: bool = False,
             fit_steps: int = 0) -> dict:
    """The split's figures, printed and written to ``json_path``; with ``linear_baseline``, also the
    reconstruction of a linear auto-encoder of the latent's size fitted on the training split, beside the
    model's on the same windows (``linear_baseline.py``)."""
    from ..model.api import load_model

    model = load_model(model_path)
    clips = load_clips(split_trials(data_root, corpora, split), model.fps)
    torch.manual_seed(0)
    with torch.no_grad():
        metrics = compute_metrics(model, clips, progress=True, fit_steps=fit_steps)
        if linear_baseline:
            train_clips = load_clips(split_trials(data_root, corpora, "train"), model.fps)
            windows = fixed_windows(clips, model.frames)
            metrics["linear_baseline"] = linear_baseline_figures(model, train_clips, windows)
    metrics["split"] = split
    metrics["model"] = model.name
    print(format_table(metrics, f"{model.name} on the {split} split"))
    if linear_baseline:
        b = metrics["linear_baseline"]
        print(f"\nreconstruction of the {b['windows']} full-length windows, MPJPE (root-relative / pelvis path): "
              f"model {b['model']['mpjpe_mm']:.1f} mm ({b['model']['root_relative_mpjpe_mm']:.1f} / "
              f"{b['model']['root_path_error_mm']:.1f}); linear auto-encoder of {b['components']} components "
              f"fitted on {b['training_windows']} training windows {b['linear']['mpjpe_mm']:.1f} mm "
              f"({b['linear']['root_relative_mpjpe_mm']:.1f} / {b['linear']['root_path_error_mm']:.1f})")
    if json_path:
        Path(json_path).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        print(f"wrote {json_path}")
    return metrics
