"""The convention torture suite through Blender (issue 17): each CMU/HDM05 motion re-expressed in another skeleton
convention (joint orients, world axes, units, channels, Euler orders, extra roots, odd rest poses), imported by
Blender's own BVH importer at its defaults, bound with preset AUTO and read back: the same motion within 3 cm mean
joint error once the global frame is removed."""

from pathlib import Path

import numpy as np
import pytest

import bpy
from addon_tests.conventions import CONVENTIONS, write
from motionclip_blender.core.io.mocap import ground
from motionclip_blender.core.paths import data_root

DATA = data_root()
pytestmark = pytest.mark.skipif(not (DATA / "hdm05" / "index.json").is_file(), reason=f"no data at {DATA}")
TRIALS = ("08_01", "HDM_tr_squat1Reps_041_120")


@pytest.fixture(scope="module")
def originals():
    from motionclip_blender.core.training.corpus import split_trials
    from motionclip_blender.core.training.dataset import load_clips

    trials = [t for t in split_trials(DATA, ["cmu", "hdm05"], "all") if t.id in TRIALS]
    return {c.trial.split(":")[-1]: c.motion[:60] for c in load_clips(trials, 30.0, progress=False)}


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("conv", CONVENTIONS, ids=lambda c: c.name)
def test_blenders_importer_then_auto_binding_reads_back_the_same_motion(fresh, originals, tmp_path, trial, conv):
    from motionclip_blender.blender import readback

    motion = originals[trial]
    write(motion, tmp_path / "f.bvh", conv)
    fresh.scene.render.fps = 30  # the file's rate (timing is another test's subject)
    bpy.ops.import_anim.bvh(filepath=str(tmp_path / "f.bvh"))  # the importer's defaults: it assumes Y up
    arm = fresh.active_object
    got = readback.motion_from_action(arm)
    n = min(len(got), len(motion))  # an added T-pose frame 0 is read too: compare the performance
    # the global frame removed: start, heading and the floor (a file's floor is a convention too)
    a = ground(motion[len(motion) - n:].canonical()).joint_positions()
    b = ground(got[len(got) - n:].canonical()).joint_positions()
    error = np.linalg.norm(a - b, axis=-1).mean()
    print(f"{conv.name} {trial}: {error * 100:.2f} cm")
    assert error <= 0.03


def _first_frames(path: Path, frames: int, tmp_path: Path) -> Path:
    """A copy of the BVH file ``path`` keeping its header and only its first ``frames`` frames: what the binding
    test samples, without Blender's importer keying a whole trial (the test took 69 s on full files)."""
    lines = path.read_text().splitlines()
    motion = next(i for i, line in enumerate(lines) if line.strip().upper() == "MOTION")
    count = int(lines[motion + 1].split(":")[1])
    assert lines[motion + 1].strip().startswith("Frames") and lines[motion + 2].strip().startswith("Frame Time")
    keep = min(frames, count)
    body = lines[:motion + 1] + [f"Frames: {keep}", lines[motion + 2]] + lines[motion + 3:motion + 3 + keep]
    out = tmp_path / path.name
    out.write_text("\n".join(body) + "\n")
    return out


def test_every_bvh_of_the_shared_data_binds_upright_with_auto(fresh, tmp_path):
    """Blender's importer at its defaults, then AUTO: a map, a reference pose and a retargeting frame for each of
    the 135 BVH files (117 CMU trials, the cgspeed, Hahne/Daz and iClone variants), and the take read back stands:
    the head over the pelvis in most frames and well above the lower ankle in some."""
    from motionclip_blender.blender import binding, retarget
    from motionclip_blender.core.motion.skeleton import JOINT_INDEX

    files = sorted((DATA / "cmu").rglob("*.bvh"))
    assert len(files) >= 130
    wrong = []
    for path in files:
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.import_anim.bvh(filepath=str(_first_frames(path, 130, tmp_path)))
        arm = bpy.context.active_object
        try:
            bone_map, _ = retarget.resolve_map(arm)
            rig, rt, label = binding.bind(bpy.context, arm, bone_map, store=False)
            first = int(arm.animation_data.action.frame_range[0])
            pose = retarget.sample_pose(bpy.context, arm, rig, range(first, first + 120, 4))
            pos = rt.from_rig(pose).joint_positions()
        except Exception as exc:  # noqa: BLE001 - every failure is collected and reported together
            wrong.append(f"{path.name}: {exc}")
            continue
        tall = (pos[:, JOINT_INDEX["head"], 2] - pos[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]], 2]
                .min(axis=1)).max()
        share = (pos[:, JOINT_INDEX["head"], 2] > pos[:, 0, 2]).mean()
        if tall < 1.2 or share < 0.4:
            wrong.append(f"{path.name}: head {tall:.2f} m over the feet, above the pelvis {share:.0%} ({label})")
    assert not wrong, wrong
