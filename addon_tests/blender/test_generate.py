"""The Generate operator end to end (tiny real checkpoint), undo, and every bad input."""

import numpy as np
import pytest

import bpy
from bl_helpers import counts, evaluated_joint_positions
from motionclip_blender.blender import bake, deps, runtime
from motionclip_blender.blender.prefs import ModelSettings


def fcurve_table(action) -> np.ndarray:
    """(frames, 3 + 96) key values in bake order: root location, then 24 × (w, x, y, z)."""
    bag = action.layers[0].strips[0].channelbag(action.slots[0])
    cols = []
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        cols.append(co[1::2])
    return np.stack(cols, 1)


def test_generate_end_to_end(fresh, tiny_model):
    scene = fresh.scene
    scene.render.fps = 24  # the model runs at 30 fps: the bake resamples
    bpy.ops.motionclip.add_smpl_rig()
    arm = fresh.active_object
    result = bpy.ops.motionclip.generate(prompt="a person jumps", seconds=2.0, seed=7)
    assert result == {'FINISHED'}
    action = arm.animation_data.action
    assert action.name == "MC_a_person_jumps"
    assert action["prompt"] == "a person jumps" and action["seed"] == 7 and action["model"] == "tiny"
    assert action["encoder"].startswith("minilm")

    motion = tiny_model.generate("a person jumps", frames=60, seed=7)  # deterministic for a seed
    expected = motion.resample(24.0)
    quats, loc = bake.motion_to_pose_channels(expected, *bake.rest_rotations(arm))
    table = fcurve_table(action)
    assert table.shape == (len(expected), 99) and len(expected) == 48  # 59 intervals at 30 fps -> 24 fps
    assert np.abs(table[:, :3] - loc).max() < 1e-5
    assert np.abs(table[:, 3:] - quats.reshape(len(expected), -1)).max() < 1e-5
    assert (scene.frame_start, scene.frame_end) == (1, 48)
    assert np.abs(evaluated_joint_positions(arm, 30) - expected.joint_positions()[29]).max() < 1e-4


def test_generate_is_one_undo_step(fresh, tiny_model):
    """Background mode never pushes undo steps for operators by itself (measured: bl_options UNDO is honoured
    only with a window), so the test pushes the steps the UI would push around one Generate and checks that
    undo restores the scene and redo brings the action back."""
    from motionclip_blender.blender.ops.generate import MOTIONCLIP_OT_generate

    assert {'REGISTER', 'UNDO'} <= MOTIONCLIP_OT_generate.bl_options
    bpy.ops.motionclip.add_smpl_rig()
    bpy.ops.ed.undo_push(message="Add SMPL Rig")
    before = counts()
    assert bpy.ops.motionclip.generate(prompt="a person waves", seconds=1.0) == {'FINISHED'}
    bpy.ops.ed.undo_push(message="Generate Motion")
    assert len(bpy.data.actions) == before[1] + 1
    bpy.ops.ed.undo()
    assert counts() == before
    arm = bpy.data.objects["SMPL_Rig"]
    assert arm.animation_data is None or arm.animation_data.action is None
    bpy.ops.ed.redo()
    assert bpy.data.objects["SMPL_Rig"].animation_data.action.name == "MC_a_person_waves"


def expect_report(match: str, **kwargs):
    before = counts()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.motionclip.generate(**{"prompt": "a person jumps", "seconds": 1.0, **kwargs})
    assert counts() == before


def test_empty_prompt(fresh, tiny_model):
    bpy.ops.motionclip.add_smpl_rig()
    expect_report("prompt.*empty", prompt="   ")


def test_no_active_object(fresh, tiny_model):
    expect_report("No active object")


def test_not_an_armature(fresh, tiny_model):
    bpy.ops.mesh.primitive_cube_add()
    expect_report("'Cube' is not an armature")


def test_armature_without_smpl_bones(fresh, tiny_model):
    bpy.ops.object.armature_add()
    expect_report("not an SMPL rig: missing 24 bones")


def test_model_missing(fresh, prefs, tmp_path):
    runtime.clear_cache()
    prefs.checkpoint_path = str(tmp_path / "nowhere")
    bpy.ops.motionclip.add_smpl_rig()
    expect_report("model could not be loaded: .*nowhere")


def test_model_broken(fresh, prefs, tiny_model_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = next(broken.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated download
    runtime.clear_cache()
    prefs.checkpoint_path = str(broken)
    bpy.ops.motionclip.add_smpl_rig()
    expect_report("model could not be loaded")


def test_dependencies_missing(fresh, tiny_model, monkeypatch):
    monkeypatch.setitem(deps.REQUIRED_MODULES, "torch_that_is_not_installed", "torch-missing")
    bpy.ops.motionclip.add_smpl_rig()
    expect_report("Missing Python dependencies: torch-missing.*Install Dependencies")


def _pins(path) -> list[str]:
    """Requirement lines of a pip requirements file, following ``-r`` includes as pip does."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            out += _pins(path.parent / line[2:].strip())
        elif line:
            out.append(line)
    return out


def test_requirements_match_requirements_txt():
    """Install Dependencies installs exactly requirements.txt minus what Blender has or does not need."""
    import re

    from conftest import REPO

    not_in_blender = {"bpy", "pytest", "pytest-xdist", "hypothesis", "numpy"}  # test tools; Blender bundles numpy
    pins = [p for p in _pins(REPO / "requirements.txt") if re.split(r"[=<>!~ ]", p)[0] not in not_in_blender]
    assert sorted(deps.REQUIREMENTS) == sorted(pins) and len(set(pins)) == len(pins)
    for name in ("clip-anytorch", "torchvision", "smplx", "setuptools", "torch", "safetensors"):
        assert any(re.split(r"[=<>!~ ]", p)[0] == name for p in deps.REQUIREMENTS), name
    assert deps.pip_command("/x")[-len(deps.REQUIREMENTS):] == list(deps.REQUIREMENTS)


def test_installer_refuses_without_online_access(addon):
    assert not bpy.app.online_access  # the bpy module runs offline by default
    with pytest.raises(RuntimeError, match="Online access is disabled") as info:
        bpy.ops.motionclip.install_dependencies()
    import shlex

    command = str(info.value).split("or run: ", 1)[1].strip()
    # pasted into a shell it is the same argument list (no '>' redirection out of 'setuptools>=77.0.3,<81')
    assert shlex.split(command) == deps.pip_command(deps.site_packages_dir(create=False))


def test_invoke_in_background_completes_before_returning(fresh, tiny_model):
    bpy.ops.motionclip.add_smpl_rig()
    assert bpy.ops.motionclip.generate('INVOKE_DEFAULT', prompt="a person walks", seconds=0.5) == {'FINISHED'}
    assert fresh.active_object.animation_data.action.name == "MC_a_person_walks"


def test_worker_job_runs_off_the_main_thread(tiny_model, prefs):
    """The UI path's worker: generation in a thread gives the same motion as the blocking path."""
    import threading

    from motionclip_blender.blender.ops.generate import _Job

    seen = {}
    original = runtime.generate_motion

    def spy(*args):
        seen["thread"] = threading.current_thread()
        return original(*args)

    job = _Job(ModelSettings.from_prefs(prefs), "a person jumps", 1.0, 2)
    runtime.generate_motion, saved = spy, runtime.generate_motion
    try:
        job.thread.start()
        job.thread.join(60)
    finally:
        runtime.generate_motion = saved
    assert job.error is None and seen["thread"] is not threading.main_thread()
    motion, info = job.result
    assert np.array_equal(motion.rotations, tiny_model.generate("a person jumps", frames=30, seed=2).rotations)
    assert info["seed"] == 2 and info["prompt"] == "a person jumps"


def test_seed_zero_is_the_prompts_own_motion(tiny_model, prefs):
    motion, info = runtime.generate_motion(ModelSettings.from_prefs(prefs), "a person jumps", 1.0, 0)
    assert np.array_equal(motion.rotations, tiny_model.generate("a person jumps", frames=30, seed=None).rotations)
    assert info["seed"] == 0


def test_length_beyond_the_models_limit_is_reported_before_anything_is_made(fresh, short_model, prefs):
    """The short model decodes at most 60 frames = 2 s at 30 fps (the bundled one: 1200 = 40 s)."""
    bpy.ops.motionclip.add_smpl_rig()
    expect_report(r"Generate Motion: Length 2\.5 s is longer than model 'short' can make: at most 2 s "
                  r"\(60 frames at 30 fps\)", seconds=2.5)
    fresh.scene.render.fps = 60  # the scene's rate does not matter: the model decodes at its own 30 fps
    assert bpy.ops.motionclip.generate(prompt="a person jumps", seconds=2.0) == {'FINISHED'}
    action = fresh.active_object.animation_data.action
    assert action.frame_range[1] - action.frame_range[0] + 1 == 119  # 60 frames at 30 fps -> 119 at 60 fps
    with pytest.raises(runtime.LengthError, match="at most 2 s"):
        runtime.generate_motion(ModelSettings.from_prefs(prefs), "a person jumps", 2.1, 0)


def test_panel_flags_a_length_the_loaded_model_cannot_make(fresh, prefs, short_model_dir):
    from motionclip_blender.blender.ui import main as panel

    prefs.checkpoint_path = short_model_dir
    runtime.clear_cache()
    assert panel.length_problem(fresh, 30.0) == ""  # no model loaded yet: the operator checks when it runs
    runtime.get_model(ModelSettings.from_prefs(prefs))
    assert panel.length_problem(fresh, 2.0) == ""
    assert panel.length_problem(fresh, 30.0) == "Longer than the model's 2 s limit"
    runtime.clear_cache()


def test_info_report_names_bones_switched_to_quaternion(fresh, tiny_model, capfd):
    bpy.ops.motionclip.add_smpl_rig()
    arm = fresh.active_object
    arm.pose.bones["left_elbow"].rotation_mode = 'XYZ'
    arm.pose.bones["neck"].rotation_mode = 'AXIS_ANGLE'
    capfd.readouterr()
    assert bpy.ops.motionclip.generate(prompt="a person jumps", seconds=0.5) == {'FINISHED'}
    out = "".join(capfd.readouterr())
    assert "Baked 'MC_a_person_jumps'" in out and "2 bones switched to Quaternion rotation" in out, out
    assert {pb.rotation_mode for pb in arm.pose.bones} == {'QUATERNION'}
    assert bpy.ops.motionclip.generate(prompt="a person jumps", seconds=0.5) == {'FINISHED'}
    assert "switched" not in "".join(capfd.readouterr())  # nothing changed the second time


class _ModalStandIn:
    """What Blender hands a modal operator, enough for ``cancel``: reports are collected."""

    bl_label = "Stand-in"

    def __init__(self):
        self.reports = []

    def report(self, kind, text):
        self.reports.append((kind, text))


def test_cancel_frees_the_running_job_when_blender_drops_the_modal_handler(fresh):
    """File load / window close call ``cancel`` instead of ``modal``: the job must not stay 'running'."""
    import threading

    from motionclip_blender.blender import jobs

    class Op(_ModalStandIn, jobs.ModelJobOperator):
        pass

    started = threading.Event()

    def work():
        while True:  # a long model run that reports steps
            job.step(0.5, "working")
            started.set()
            threading.Event().wait(0.01)

    op, wm = Op(), fresh.window_manager
    job = op._job = jobs.Job.running = jobs.Job(work)
    op._plan = None
    job.thread.start()
    assert started.wait(10)
    op._timer = wm.event_timer_add(0.1, window=None)
    wm.motionclip_status = "MotionCLIP: working"
    op.cancel(fresh)
    job.thread.join(10)
    assert jobs.Job.running is None and op._timer is None and wm.motionclip_status == ""
    assert job.cancelled and isinstance(job.error, jobs.JobCancelled) and not job.thread.is_alive()
    from motionclip_blender.blender.ops import latent as latent_ops
    from motionclip_blender.blender.ops.generate import MOTIONCLIP_OT_generate

    for cls in (MOTIONCLIP_OT_generate, *latent_ops.MODEL_OPERATORS):  # every model operator has it
        assert cls.cancel is jobs.ModelJobOperator.cancel


def test_loop_plays_past_its_end_without_a_pop(fresh, tiny_model):
    """Loop: Cycles modifiers on every channel (location with offset), the scene range one cycle; the evaluated
    pose one frame past the last cycle frame is the first frame carried by one cycle's travel."""
    scene = fresh.scene
    scene.render.fps = 30
    bpy.ops.motionclip.add_smpl_rig()
    arm = fresh.active_object
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=2.0, loop=True, root='full') == {'FINISHED'}
    action = arm.animation_data.action
    fcurves = bake.action_fcurves(action)
    assert fcurves and all(any(m.type == 'CYCLES' for m in fc.modifiers) for fc in fcurves)
    assert {m.mode_after for fc in fcurves if fc.data_path.endswith(".location") for m in fc.modifiers} == {
        'REPEAT_OFFSET'}
    assert action["loop"] and action.use_cyclic
    first, last = scene.frame_start, scene.frame_end
    cycle = last - first + 1
    joints = np.stack([evaluated_joint_positions(arm, f) for f in range(first, last + 3)])
    steps = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=1)
    seam = steps[cycle - 1]  # from the cycle's last frame into the next cycle's first
    assert seam <= 1.5 * np.median(steps[:cycle - 1]) + 1e-4
    travel = joints[cycle, 0] - joints[0, 0]  # the next cycle starts where this one's travel took it
    pose_next = joints[cycle] - joints[cycle, 0]
    pose_first = joints[0] - joints[0, 0]
    assert np.abs(pose_next - pose_first).max() < 1e-3 and abs(travel[2]) < 1e-3


def test_generate_options_reach_the_model(fresh, tiny_model):
    bpy.ops.motionclip.add_smpl_rig()
    arm = fresh.active_object
    assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=1.0, root='in_place',
                                       clean_feet=False) == {'FINISHED'}
    action = arm.animation_data.action
    assert action["root"] == "in_place" and not action["clean_feet"] and not action["loop"]
    pelvis = np.stack([evaluated_joint_positions(arm, f)[0] for f in range(1, 31, 3)])
    assert np.ptp(pelvis[:, :2], axis=0).max() < 1e-4  # in place: the root does not travel


@pytest.mark.parametrize("had_action", [False, True])
def test_a_failed_bake_leaves_no_trace(fresh, tiny_model, monkeypatch, had_action):
    """A bake that fails half way (here: the 50th F-curve) leaves the file exactly as it was: no new action, no
    fake user set on the previous one, no empty animation data on a rig that had none."""
    bpy.ops.motionclip.add_smpl_rig()
    arm = fresh.active_object
    if had_action:
        assert bpy.ops.motionclip.generate(prompt="a person walks", seconds=0.5) == {'FINISHED'}
        arm.animation_data.action.use_fake_user = False
    before = (counts(), arm.animation_data is not None,
              arm.animation_data.action.name if had_action else None)
    calls = {"n": 0}
    real = bake.write_fcurve

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 50:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(bake, "write_fcurve", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        bpy.ops.motionclip.generate(prompt="a person jumps", seconds=0.5)
    assert (counts(), arm.animation_data is not None,
            arm.animation_data.action.name if had_action else None) == before
    if had_action:
        assert not arm.animation_data.action.use_fake_user


@pytest.fixture
def banked_model(prefs, tiny_model_dir, tmp_path):
    """The tiny checkpoint with a latent bank of two random performances, one of them an HDM05 clip."""
    import shutil

    from motionclip_blender.core.model.api import load_model
    from motionclip_blender.core.model.bank import build_bank
    from motionclip_blender.core.motion.motion import Motion
    from motionclip_blender.core.training.dataset import Clip

    path = tmp_path / "banked"
    shutil.copytree(tiny_model_dir, path)
    rng = np.random.default_rng(3)

    def performance(frames):
        quats = rng.normal(size=(frames, 24, 4)) * [1, 0.1, 0.1, 0.1]
        return Motion((quats / np.linalg.norm(quats, axis=-1, keepdims=True)).astype(np.float32),
                      np.zeros((frames, 3), np.float32) + [0, 0, 0.9], 30.0)

    clips = [Clip("02_01", "a person walks", performance(80)), Clip("hdm05:HDM_bd_jump", "a person jumps",
                                                                   performance(60))]
    build_bank(load_model(path), clips, progress=False).save(path)
    prefs.checkpoint_path = str(path)
    runtime.clear_cache()
    yield runtime.get_model(ModelSettings.from_prefs(prefs))
    runtime.clear_cache()


def test_the_report_and_the_action_say_which_performance_a_take_was_drawn_from(fresh, banked_model, capfd):
    bpy.ops.motionclip.add_smpl_rig()
    capfd.readouterr()
    assert bpy.ops.motionclip.generate(prompt="a person jumps", seconds=1.0) == {'FINISHED'}
    prompt_z = banked_model.text_latent(["a person jumps"])[0]
    expected = banked_model.bank.describe(banked_model.bank_pick(prompt_z, None, "a person jumps"))
    action = fresh.active_object.animation_data.action
    assert action["drawn_from"] == expected
    assert expected.startswith('"a person ')
    assert "HDM05 clip HDM_bd_jump" in expected or "CMU trial 02_01" in expected
    assert f"drawn from the training performance {expected}" in "".join(capfd.readouterr())
