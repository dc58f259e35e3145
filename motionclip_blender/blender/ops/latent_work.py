"""The model side of the latent operators: plain Motions and prompts in, Motions and labels out.

Runs in the worker thread (see ``jobs``), so nothing here touches ``bpy``; the core (torch) is imported
lazily so the add-on still registers without its dependencies. A *source* is a prompt (str) or a Motion
read from an action on the main thread (``readback.motion_from_action``); ``model.latent`` embeds either.

Sequencing aligns each clip to the one before it: its first frame's root (horizontal position) and
heading are set to those of the previous clip at the frame where it takes over (the crossfade's first
frame; with no crossfade, the previous clip's last frame). Aligning to that frame rather than to the
previous clip's very last frame keeps both clips moving in step through the crossfade, so the blended
root never doubles its speed or jumps.
"""

from __future__ import annotations

import numpy as np

from .. import runtime


def _model(settings):
    return runtime.get_model(settings)


def _frames(model, seconds: float, what: str = "Length") -> int:
    """Frames at the model's fps; raises runtime.LengthError (naming the limit in seconds) when too long."""
    return runtime.decode_frames(model, seconds, what)


def _source_frames(model, source, seconds: float, what: str) -> int:
    """Frames decoded for ``source``: ``seconds`` for a prompt, a clip's own length at the model's fps."""
    if isinstance(source, str):
        return _frames(model, seconds)
    n = len((source).at_fps(model.fps))
    return runtime.check_frames(model, n, f"{what} clip of {n / model.fps:.2f} s ({n} frames)")


def _latent(model, item, job, start: float, span: float, name: str):
    """What ``item`` stands for when it is decoded again: a prompt's latent, or a clip's latent fitted to it
    (``fitting.fit_latent``, a few seconds) with its progress on the job, so Esc stops it between steps."""
    if isinstance(item, str):
        return model.motion_latent(item)
    from ...core.model.fitting import fit_latent

    return fit_latent(model, item, on_step=lambda f: job.step(start + span * f, f"fitting the latent of {name}"))


def label_of(source) -> str:
    return source if isinstance(source, str) else "clip"


# --- alignment --------------------------------------------------------------------------------------
def align_start(motion, ref, ref_index: int):
    """``motion`` turned about Z and shifted so its first frame has ``ref[ref_index]``'s root xy and heading.
    Heights are kept: each clip's own vertical motion (crouching, jumping) is real, not an offset."""
    turned = motion.rotated_about_z(float(ref[ref_index:ref_index + 1].heading()[0] - motion[0:1].heading()[0]))
    trans = turned.translation.copy()
    trans[:, :2] += ref.translation[ref_index, :2] - trans[0, :2]
    return type(motion)(turned.rotations, trans, turned.fps)


def seam_index(clip_len: int, crossfade: int) -> int:
    """Index in the previous clip where the next one starts (its first crossfade frame)."""
    return max(0, clip_len - 1 - crossfade)


# --- operations -------------------------------------------------------------------------------------
def sequence(settings, a, b, *, seconds: float, crossfade: int, transition_seconds: float, fps: float, job):
    """A then (optionally a latent transition then) B at ``fps``, each aligned to the previous.

    Returns {"clips": [Motion...], "crossfade": int, "names": [...]}; the first clip is ``a`` unchanged when
    it is a Motion (its action is reused as is)."""
    model = _model(settings)
    frames = _frames(model, seconds)  # every length is checked before the first clip is made
    if transition_seconds > 0:
        _frames(model, transition_seconds, "Transition length")
    job.step(0.05, "clip A")
    clip_a = (a if not isinstance(a, str) else model.generate(a, frames=frames)).at_fps(fps)
    job.step(0.3, "clip B")
    clip_b = (b if not isinstance(b, str) else model.generate(b, frames=frames)).at_fps(fps)
    parts, names = [clip_a], [label_of(a)]
    if transition_seconds > 0:
        from ...core.model.api import mix_latents

        za, zb = _latent(model, a, job, 0.55, 0.15, "clip A"), _latent(model, b, job, 0.7, 0.15, "clip B")
        z = mix_latents(za, zb, 0.5)
        job.step(0.85, "transition")
        parts.append((model.decode_clip(z, _frames(model, transition_seconds))).at_fps(fps))
        names.append("transition")
    parts.append(clip_b)
    names.append(label_of(b))
    _on_the_floor_of(parts, [not isinstance(x, str) for x in ([a] + [None] * (len(parts) - 2) + [b])])
    # A crossfade longer than a clip would blend past its start: clamp to the shortest clip.
    crossfade = int(max(0, min(crossfade, min(len(p) for p in parts) - 1)))
    job.step(0.9, "aligning")
    aligned = [parts[0]]
    for part in parts[1:]:
        prev = aligned[-1]
        aligned.append(align_start(part, prev, seam_index(len(prev), crossfade)))
    return {"clips": aligned, "crossfade": crossfade, "names": names, "model": str(model.name)}


def _on_the_floor_of(parts: list, from_action: list[bool]) -> None:
    """Generated parts stand on z = 0; an action need not (a take recorded with a floor offset or on a
    platform, a rig whose foot joints sit higher above its soles than SMPL's: the iClone CC take read back
    stands 8 cm up). Generated parts move onto the floor of the first action clip, measured the same way
    (``mocap.floor_level``), so the hips cross the seam level (in place; actions are never moved)."""
    from ...core.io.mocap import floor_level

    actions = [p for p, is_action in zip(parts, from_action) if is_action]
    if not actions:
        return
    level = floor_level(actions[0])
    for i, is_action in enumerate(from_action):
        if not is_action and abs(level) > 1e-6:
            moved = parts[i].translation.copy()
            moved[:, 2] += level
            parts[i] = type(parts[i])(parts[i].rotations, moved, parts[i].fps)


def mix(settings, a, b, *, alpha: float, seconds: float, job):
    """One clip decoded from (1 − α)·E(a) + α·E(b)."""
    from ...core.model.api import mix_latents

    model = _model(settings)
    frames = _frames(model, seconds)
    z = mix_latents(_latent(model, a, job, 0.0, 0.3, "A"), _latent(model, b, job, 0.3, 0.3, "B"), float(alpha))
    job.step(0.6, "decoding")
    return model.decode_clip(z, frames), {"model": str(model.name), "alpha": float(alpha)}


def interpolate(settings, a, b, *, count: int, include_ends: bool, seconds: float, job):
    """``count`` clips between E(a) and E(b) at equal steps (plus both ends when asked): [(t, Motion)]."""
    from ...core.model.api import mix_latents

    model = _model(settings)
    frames, out = _frames(model, seconds), []
    ts = np.linspace(0.0, 1.0, count + 2)
    ts = ts if include_ends else ts[1:-1]
    za, zb = _latent(model, a, job, 0.0, 0.25, "A"), _latent(model, b, job, 0.25, 0.25, "B")
    for i, t in enumerate(ts):
        job.step(0.5 + 0.5 * i / len(ts), f"clip {i + 1}/{len(ts)}")
        out.append((float(t), model.decode_clip(mix_latents(za, zb, float(t)), frames)))
    return out, {"model": str(model.name)}


def edit(settings, base, minus, plus, *, seconds: float, job):
    """z = E(base) − E(minus) + E(plus), decoded; a base clip keeps its length."""
    model = _model(settings)
    frames = _source_frames(model, base, seconds, "Base")
    z = _latent(model, base, job, 0.0, 0.8, "the base")  # the base's latent stands for it in E(base)
    job.step(0.8, "editing")
    return model.edit(z, minus, plus, frames=frames), {"model": str(model.name)}


def recognize(settings, motion, labels, *, top_k: int = 5, job):
    model = _model(settings)
    job.step(0.3, "encoding")
    return model.recognize(motion, labels, top_k=top_k), {"model": str(model.name)}


def variations(settings, source, *, count: int, seed: int, variation: float, seconds: float, job):
    """``count`` variations, best match first: [(seed, Motion, score)]. Seeds are seed, seed+1, …: a prompt's
    variation k is Generate with seed k, scored by cosine to the prompt; an action's is a seeded perturbation of
    its latent of relative size ``variation``, scored by cosine to the action."""
    from ...core.model.api import perturb

    model = _model(settings)
    frames = _source_frames(model, source, seconds, "Varied")
    z = None if isinstance(source, str) else model.latent(source)
    out = []
    for i in range(count):
        job.step(i / count, f"variation {i + 1}/{count}")
        s = int(seed) + i
        motion = (model.generate(source, frames=frames, seed=s, variation=float(variation)) if z is None
                  else model.decode_clip(perturb(z, s, float(variation)), frames))
        out.append((s, motion, model.match(motion, source)))
    out.sort(key=lambda t: -t[2])
    return out, {"model": str(model.name), "variation": float(variation)}
