"""The public prompt suite: everyday prompts per action family, each judged by physical criteria from joint
positions, for generated clips and - with the same criteria - for real windows of that family.

The prompts live in ``assets/prompt_suite.json`` (family, criterion, 2-3 phrasings); the criteria are the
functions below, each ``(positions (F, 24, 3) in metres with Z up, fps) -> (passed, measured figures)``.
Positions are judged as generated, on the model's own floor (z = 0), with no clean-up.
Real windows validate the criteria: a criterion that real mocap of its family fails is a broken criterion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..paths import assets_dir
from ..motion.skeleton import FOOT_JOINTS, JOINT_INDEX

J = JOINT_INDEX
SIDES = ("left", "right")
Result = tuple[bool, dict[str, float]]


# --- measurements ---------------------------------------------------------------------------------
def pose_energy(pos: np.ndarray) -> float:
    """Mean distance (m) of the joints from the clip's mean root-relative pose: how much the body moves."""
    rel = pos - pos[:, :1]
    return float(np.linalg.norm(rel - rel.mean(0), axis=-1).mean())


def pose_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance (m) between the root-relative joints of two clips over their common frames: how different
    two takes are once the root path is removed (0 for the same take on another path)."""
    n = min(len(a), len(b))
    return float(np.linalg.norm((a[:n] - a[:n, :1]) - (b[:n] - b[:n, :1]), axis=-1).mean())


def forward_dirs(pos: np.ndarray) -> np.ndarray:
    """(F, 2) unit horizontal facing per frame (``heading.heading_from_positions``)."""
    from ..motion.heading import heading_from_positions

    angle = heading_from_positions(pos)
    return np.stack([np.sin(angle), -np.cos(angle)], axis=-1)


def ground_speed(pos: np.ndarray, fps: float) -> float:
    """Horizontal pelvis displacement from first to last frame per second (m/s)."""
    return float(np.linalg.norm(pos[-1, 0, :2] - pos[0, 0, :2]) * fps / max(1, len(pos) - 1))


def ankle_swing(pos: np.ndarray, side: str) -> float:
    """Front-back range (m) of an ankle relative to the pelvis, along the body's facing."""
    rel = pos[:, J[f"{side}_ankle"], :2] - pos[:, 0, :2]
    along = (rel * forward_dirs(pos)).sum(-1)
    return float(along.max() - along.min())


def foot_lift(pos: np.ndarray, side: str) -> float:
    """Highest an ankle rises above its own lowest height in the clip (m)."""
    z = pos[:, J[f"{side}_ankle"], 2]
    return float(z.max() - z.min())


def both_feet_clearance(pos: np.ndarray) -> float:
    """Highest the lowest foot joint gets above the floor z = 0 (m): > 0 only with both feet up."""
    return float(pos[:, FOOT_JOINTS, 2].min(axis=1).max())


def joint_speed(pos: np.ndarray, joint: int, fps: float) -> np.ndarray:
    """(F,) speed of a joint (m/s), the first frame repeating the second."""
    v = np.linalg.norm(np.diff(pos[:, joint], axis=0), axis=-1) * fps
    return np.concatenate([v[:1], v])


def reach_forward(pos: np.ndarray, side: str) -> np.ndarray:
    """(F,) how far (m) a wrist is in front of its shoulder along the facing."""
    rel = pos[:, J[f"{side}_wrist"], :2] - pos[:, J[f"{side}_shoulder"], :2]
    return (rel * forward_dirs(pos)).sum(-1)


# --- criteria ----------------------------------------------------------------------------------------
def steps(pos, fps, lift=0.05, swing=0.25, speed=(0.6, 2.2)) -> Result:
    lifts = [foot_lift(pos, s) for s in SIDES]
    swing_m = max(ankle_swing(pos, s) for s in SIDES)
    v = ground_speed(pos, fps)
    ok = min(lifts) >= lift and swing_m >= swing and speed[0] <= v <= speed[1]
    return ok, {"min_foot_lift_m": min(lifts), "ankle_swing_m": swing_m, "speed_m_s": v}


def walk(pos, fps) -> Result:
    return steps(pos, fps)


def sneak(pos, fps) -> Result:
    return steps(pos, fps, lift=0.03, swing=0.15, speed=(0.15, 1.4))


def run(pos, fps) -> Result:
    flight = both_feet_clearance(pos)
    v = ground_speed(pos, fps)
    return flight >= 0.02 and v >= 1.5, {"flight_clearance_m": flight, "speed_m_s": v}


def jog(pos, fps) -> Result:
    ok, m = steps(pos, fps, lift=0.08, swing=0.25, speed=(1.0, 4.0))
    return ok, m


def jump(pos, fps) -> Result:
    c = both_feet_clearance(pos)
    return c >= 0.10, {"both_feet_clearance_m": c}


def hop(pos, fps) -> Result:
    c = both_feet_clearance(pos)
    return c >= 0.05, {"both_feet_clearance_m": c}


def kick(pos, fps) -> Result:
    margin = max(float((pos[:, J[f"{a}_ankle"], 2] - pos[:, J[f"{b}_knee"], 2]).max())
                 for a, b in (("left", "right"), ("right", "left")))
    return margin > 0, {"ankle_above_other_knee_m": margin}


def squat(pos, fps) -> Result:
    drop = float(pos[:, 0, 2].max() - pos[:, 0, 2].min())
    return drop >= 0.25, {"pelvis_drop_m": drop}


def lie_down(pos, fps) -> Result:
    end = float(pos[-1, 0, 2])
    return end <= 0.35, {"pelvis_height_at_end_m": end}


def punch(pos, fps) -> Result:
    best = 0.0
    for s in SIDES:
        fast = joint_speed(pos, J[f"{s}_wrist"], fps) >= 2.0
        reach = reach_forward(pos, s)
        best = max(best, float(reach[fast].max()) if fast.any() else 0.0)
    return best >= 0.40, {"fast_wrist_reach_m": best}


def throw(pos, fps) -> Result:
    best = 0.0
    for s in SIDES:
        above = pos[:, J[f"{s}_wrist"], 2] > pos[:, J[f"{s}_shoulder"], 2]
        speed = joint_speed(pos, J[f"{s}_wrist"], fps)
        best = max(best, float(speed[above].max()) if above.any() else 0.0)
    # 2 m/s, not 3: HDM05's real throws, sampled at 30 fps, peak at a median 2.7 m/s
    return best >= 2.0, {"wrist_speed_above_shoulder_m_s": best}


def reach_up(pos, fps) -> Result:
    above = float(max((pos[:, J[f"{s}_wrist"], 2] - pos[:, J[f"{s}_shoulder"], 2]).max() for s in SIDES))
    # HDM05's "reach up high" grabs at about head height: the wrist rises 12-18 cm over the shoulder
    return above >= 0.10, {"wrist_above_shoulder_m": above}


def arm_circles(pos, fps) -> Result:
    lower_wrist = np.minimum(pos[:, J["left_wrist"], 2], pos[:, J["right_wrist"], 2])
    both = float((lower_wrist - pos[:, J["head"], 2]).max())
    return both >= 0.0, {"both_wrists_above_head_m": both}


def bend_down(pos, fps) -> Result:
    low = float(min(pos[:, J[f"{s}_wrist"], 2].min() for s in SIDES))
    return low <= 0.45, {"lowest_wrist_m": low}


def elbow_to_knee(pos, fps) -> Result:
    gap = float(min(np.linalg.norm(pos[:, J[f"{a}_elbow"]] - pos[:, J[f"{b}_knee"]], axis=-1).min()
                    for a, b in (("left", "right"), ("right", "left"))))
    return gap <= 0.20, {"elbow_knee_gap_m": gap}


def balance(pos, fps) -> Result:
    diff = np.abs(pos[:, J["left_ankle"], 2] - pos[:, J["right_ankle"], 2])
    share = float((diff >= 0.10).mean())
    return share >= 0.5, {"one_foot_up_share": share}


def dance(pos, fps) -> Result:
    e = pose_energy(pos)
    lift = max(foot_lift(pos, s) for s in SIDES)
    return e >= 0.05 and lift >= 0.05, {"pose_energy_m": e, "max_foot_lift_m": lift}


def dribble(pos, fps) -> Result:
    rng = float(max(np.ptp(pos[:, J[f"{s}_wrist"], 2]) for s in SIDES))
    return rng >= 0.15, {"wrist_height_range_m": rng}


def swordplay(pos, fps) -> Result:
    ok, m = punch(pos, fps)
    return m["fast_wrist_reach_m"] >= 0.30, m


def hands_busy(pos, fps) -> Result:
    speed = float(max(joint_speed(pos, J[f"{s}_wrist"], fps).mean() for s in SIDES))
    return speed >= 0.5, {"mean_wrist_speed_m_s": speed}


CRITERIA: dict[str, Callable[[np.ndarray, float], Result]] = {
    f.__name__: f for f in (walk, sneak, run, jog, jump, hop, kick, squat, lie_down, punch, throw, reach_up,
                            arm_circles, bend_down, elbow_to_knee, balance, dance, dribble, swordplay,
                            hands_busy)
}


@dataclass(frozen=True)
class SuiteEntry:
    family: str  # an action family of assets/text/action_families.json
    criterion: str
    prompts: tuple[str, ...]
    seconds: float = 2.0


def load_suite(path: str | Path | None = None) -> list[SuiteEntry]:
    path = Path(path) if path else assets_dir() / "prompt_suite.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [SuiteEntry(e["family"], e["criterion"], tuple(e["prompts"]), float(e.get("seconds", 2.0)))
                   for e in data["entries"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read the prompt suite ({exc})") from None
    unknown = sorted({e.criterion for e in entries} - set(CRITERIA))
    if unknown:
        raise InputError(f"{path}: unknown criteria {unknown} (known: {sorted(CRITERIA)})")
    return entries


def judge(criterion: str, pos: np.ndarray, fps: float) -> Result:
    passed, figures = CRITERIA[criterion](pos, fps)
    return bool(passed), {k: round(float(v), 4) for k, v in figures.items()}
