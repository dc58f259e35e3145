"""Rendered CLIP datasets: PNGs with the figure in frame, the manifest, actions round trip, the SMPL mesh from a
synthetic smplx-format file, and a fine-tuned checkpoint reaching the add-on through its preferences."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector

from motionclip_blender.blender import bake, render, rig
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.motion.skeleton import JOINT_NAMES, PARENTS, SMPL_TO_BLENDER, rest_joint_positions


def make_motion(frames: int = 24) -> Motion:
    m = Motion.rest(frames)
    t = np.linspace(0, 1, frames)
    m.rotations[:, 16] = np.stack([np.cos(0.6 * t), 0 * t, np.sin(0.6 * t), 0 * t], -1)  # left arm swings down
    m.rotations[:, 4] = np.stack([np.cos(0.5 * t), np.sin(0.5 * t), 0 * t, 0 * t], -1)  # knee bends
    m.translation[:, 0] += 0.8 * t  # walks sideways: the camera must follow
    return m


def pixels(path: str) -> np.ndarray:
    img = bpy.data.images.load(path)
    try:
        assert tuple(img.size) == (224, 224)
        px = np.empty(224 * 224 * 4, np.float32)
        img.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(img)
    return px.reshape(224, 224, 4)[..., :3]


def projected(manifest_item: dict, points: np.ndarray) -> np.ndarray:
    """(u, v) of points through a camera rebuilt from the manifest (square 224 render, orthographic)."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 224
    cam = bpy.data.objects.new("check", bpy.data.cameras.new("check"))
    cam.data.type = 'ORTHO'
    cam.data.ortho_scale = manifest_item["camera"]["ortho_scale"]
    cam.matrix_world = Matrix(manifest_item["camera"]["matrix_world"])
    scene.collection.objects.link(cam)
    bpy.context.view_layer.update()
    return np.array([world_to_camera_view(scene, cam, Vector(p))[:2] for p in points])


@pytest.fixture
def motion_file(tmp_path):
    path = tmp_path / "in" / "arm_swing.npz"
    path.parent.mkdir()
    make_motion().save_npz(path)
    path.with_suffix(".txt").write_text("a person swings the left arm\n")
    return path


def test_render_two_frames_headless(fresh, motion_file, tmp_path):
    n_objects, n_scenes = len(bpy.data.objects), len(bpy.data.scenes)
    out = tmp_path / "renders"
    manifest = render.render_dataset([motion_file], out, frames_per_motion=2, progress=False)
    assert len(bpy.data.scenes) == n_scenes and len(bpy.data.objects) == n_objects  # render scene fully removed
    assert manifest["complete"] and manifest["size"] == 224 and manifest["engine"] == 'BLENDER_WORKBENCH'
    assert [(i["motion_id"], i["frame"], i["label"]) for i in manifest["items"]] == [
        ("arm_swing", 0, "a person swings the left arm"), ("arm_swing", 23, "a person swings the left arm")]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    saved = Motion.load_npz(out / manifest["motions"][0]["motion"])
    assert np.abs(saved.joint_positions() - make_motion().joint_positions()).max() < 1e-5
    joints = make_motion().joint_positions()
    for item in manifest["items"]:
        rgb = pixels(str(out / item["path"]))
        figure = np.abs(rgb - 1.0).max(-1) > 0.1  # background is pure white
        assert 0.05 < figure.mean() < 0.8, figure.mean()  # a figure, not an empty or flooded frame
        assert not figure[0].any() and not figure[-1].any()  # the margin keeps it off the borders
        uv = projected(item, joints[item["frame"]])
        assert (uv > 0.02).all() and (uv < 0.98).all(), uv  # every joint inside the image
    assert not list(out.rglob("*.tmp*"))  # atomic writes leave no temporaries


def test_render_scene_actions_round_trip(fresh, tmp_path):
    bpy.context.scene.render.fps = 30
    arm, _ = rig.add_smpl_rig(bpy.context)
    motion = make_motion(12)
    action = bake.bake_motion(arm, motion, "MC_swing", props={"prompt": "a person swings"})
    bpy.context.scene.frame_set(5)
    manifest = render.render_dataset(None, tmp_path / "r", frames_per_motion=2, progress=False)
    assert [m["label"] for m in manifest["motions"]] == ["a person swings"]
    back = Motion.load_npz(tmp_path / "r" / manifest["motions"][0]["motion"])
    assert len(back) == 12 and np.abs(back.joint_positions() - motion.joint_positions()).max() < 1e-4
    # The user's scene is untouched: their rig still plays their action, frame and active object kept.
    assert arm.animation_data.action == action and bpy.context.scene.frame_current == 5
    assert bpy.context.view_layer.objects.active == arm and bpy.context.window.scene == bpy.context.scene


def synthetic_smpl(path, scale: float = 1.1) -> dict:
    """An SMPL-format model (the keys and shapes smplx.SMPL reads) with a cube per joint instead of a body:
    cube j's centre is joint j of a body ``scale`` times the neutral one, its vertices weighted 0.75 to j and
    0.25 to the parent; J_regressor averages each cube."""
    joints = rest_joint_positions() @ SMPL_TO_BLENDER  # Blender -> SMPL frame (orthonormal: inverse = transpose)
    joints = joints * scale
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * 0.03
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    verts, faces = [], []
    weights = np.zeros((24 * 8, 24))
    regressor = np.zeros((24, 24 * 8))
    for j in range(24):
        base = 8 * j
        verts.extend(joints[j] + corners)
        faces += [(base + a, base + b, base + c) for a, b, c, d in quads] + [(base + a, base + c, base + d) for a, b, c, d in quads]
        weights[base:base + 8, j] = 0.75 if PARENTS[j] >= 0 else 1.0
        if PARENTS[j] >= 0:
            weights[base:base + 8, PARENTS[j]] = 0.25
        regressor[j, base:base + 8] = 1 / 8
    v = len(verts)
    data = {"v_template": np.array(verts), "f": np.array(faces, dtype=np.uint32), "J_regressor": regressor,
            "weights": weights, "kintree_table": np.array([[4294967295, *PARENTS[1:]], list(range(24))], dtype=np.int64),
            "shapedirs": np.zeros((v, 3, 10)), "posedirs": np.zeros((v, 3, 207))}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return data


def test_smpl_mesh_from_synthetic_model(fresh, tmp_path):
    from motionclip_blender.blender.smpl_body import create_smpl_body
    from motionclip_blender.core.rig.smpl_body import load_smpl_body, rig_rest_joints

    data = synthetic_smpl(tmp_path / "models" / "SMPL_NEUTRAL.pkl")
    body_data = load_smpl_body(tmp_path / "models")  # the folder layout smplx.create expects works too
    assert body_data.kind == "smpl" and body_data.vertices.shape == (192, 3)
    arm = rig.create_armature(bpy.context)
    body = create_smpl_body(bpy.context, arm, str(tmp_path / "models" / "SMPL_NEUTRAL.pkl"))
    assert body.parent == arm and body.modifiers[0].type == 'ARMATURE' and body.modifiers[0].object == arm
    assert [g.name for g in body.vertex_groups] == list(JOINT_NAMES)
    got = np.zeros((192, 24))
    for v in body.data.vertices:
        for g in v.groups:
            got[v.index, g.group] = g.weight
    assert np.abs(got - data["weights"]).max() < 1e-5
    co = np.array([v.co for v in body.data.vertices])
    # The pelvis cube (weight 1 to the pelvis) is centred on the rig's pelvis although the model is 10 % larger.
    assert np.abs(co[:8].mean(0) - rig_rest_joints()[0]).max() < 1e-5
    assert np.abs(co[:8].mean(0) - np.array(arm.data.bones["pelvis"].head_local)).max() < 1e-5
    # Posing the rig deforms the mesh: bending the left elbow moves the left wrist's cube.
    j = JOINT_NAMES.index("left_wrist")
    arm.pose.bones["left_elbow"].rotation_quaternion = (0.7071, 0.7071, 0, 0)
    bpy.context.view_layer.update()
    ev = body.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    moved = np.array([ev.vertices[i].co for i in range(8 * j, 8 * j + 8)])
    assert np.linalg.norm(moved.mean(0) - co[8 * j:8 * j + 8].mean(0)) > 0.05


def test_render_with_smpl_model_and_cli(fresh, motion_file, tmp_path, capsys):
    from motionclip_blender.cli import main

    synthetic_smpl(tmp_path / "SMPL_NEUTRAL.pkl")
    rc = main(["render", str(motion_file), "--out", str(tmp_path / "r"), "--frames-per-motion", "1",
               "--smpl-model", str(tmp_path / "SMPL_NEUTRAL.pkl")])
    assert rc == 0 and "wrote 1 frames of 1 motions" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["body"].startswith("smpl:")
    assert (np.abs(pixels(str(tmp_path / "r" / manifest["items"][0]["path"])) - 1).max(-1) > 0.1).mean() > 0.01
    rc = main(["render", str(motion_file), "--out", str(tmp_path / "bad"), "--smpl-model", str(tmp_path / "nope.pkl")])
    assert rc == 2 and "no such SMPL model" in capsys.readouterr().err


def test_joint_map_folds_smplx_extras():
    from motionclip_blender.core.rig.smpl_body import joint_map

    # SMPL-X: 22 body joints, jaw + eyes under the head, 15 finger joints per hand in chains of 3 from the wrists.
    parents = list(PARENTS[:22]) + [15, 15, 15]
    for wrist in (20, 21):
        for finger in range(5):
            parents += [wrist, len(parents), len(parents) + 1]
    m = joint_map(np.array(parents))
    assert m[:22].tolist() == list(range(22)) and m[22:25].tolist() == [15, 15, 15]
    assert set(m[25:40]) == {22} and set(m[40:55]) == {23}


def test_operator_then_finetuned_checkpoint_in_prefs(fresh, prefs, motion_file, tmp_path, tiny_clip_path):
    """The round trip an animator runs: render operator -> motionclip finetune -> Use Checkpoint -> Generate."""
    from motionclip_blender.blender import runtime
    from motionclip_blender.core.model.checkpoint import CheckpointMeta, save_checkpoint
    from motionclip_blender.core.model.encoders import load_encoder
    from motionclip_blender.core.training.finetune import FinetuneConfig, finetune
    from motionclip_blender.core.model.network import ModelConfig, MotionCLIPModel

    out = tmp_path / "renders"
    assert bpy.ops.motionclip.render_dataset(directory=str(out), source='FILES', input_directory=str(motion_file.parent),
                                             frames_per_motion=2) == {'FINISHED'}
    enc = load_encoder("clip:" + tiny_clip_path)
    cfg = ModelConfig(d_model=32, latent_dim=enc.dim, num_encoder_layers=1, num_decoder_layers=1, num_heads=2, ff_size=64)
    save_checkpoint(MotionCLIPModel(cfg), CheckpointMeta(model=cfg, encoder=enc.name, encoder_dim=enc.dim), tmp_path / "base")
    s = finetune(FinetuneConfig(model=str(tmp_path / "base"), renders=str(out / "manifest.json"),
                                clip="clip:" + tiny_clip_path, out=str(tmp_path / "ft"), steps=2, batch_size=2),
                 progress=False)
    assert bpy.ops.motionclip.use_checkpoint(directory=s["checkpoint"], encoder="clip:" + tiny_clip_path) == {'FINISHED'}
    assert prefs.checkpoint_path == s["checkpoint"] and prefs.text_encoder == "clip:" + tiny_clip_path
    from motionclip_blender.blender.prefs import ModelSettings

    model = runtime.get_model(ModelSettings.from_prefs(prefs))
    assert model.meta.extra["finetune"]["steps"] == 2
    bpy.ops.motionclip.add_smpl_rig()
    assert bpy.ops.motionclip.generate(prompt="a person swings the left arm", seconds=0.5) == {'FINISHED'}
    with pytest.raises(RuntimeError, match="Not a usable checkpoint"):
        bpy.ops.motionclip.use_checkpoint(directory=str(tmp_path / "nothing"))
    runtime.clear_cache()


KINDS = ("scenes", "objects", "meshes", "armatures", "cameras", "lights", "materials", "worlds", "actions")


def datablocks() -> dict:
    return {k: sorted(b.name for b in getattr(bpy.data, k)) for k in KINDS}


def test_failing_setup_leaks_nothing(fresh, motion_file, tmp_path, monkeypatch):
    """A failure after the private scene, rig and body exist (here: the camera) still removes all of them."""
    from motionclip_blender.blender import demo

    before = datablocks()

    def no_camera(*args, **kwargs):
        raise RuntimeError("no camera")

    monkeypatch.setattr(demo, "frame_camera", no_camera)
    with pytest.raises(RuntimeError, match="no camera"):
        render.render_dataset([motion_file], tmp_path / "r", frames_per_motion=1, progress=False)
    assert datablocks() == before
    assert not json.loads((tmp_path / "r" / "manifest.json").read_text())["complete"]


def test_user_data_added_or_renamed_mid_job_survives(fresh, motion_file, tmp_path):
    """Panel renders run on a timer: between two frames the user may add or rename anything."""
    users_mesh = bpy.data.meshes.new("Users_Mesh")
    users_obj = bpy.data.objects.new("Users_Object", users_mesh)
    fresh.scene.collection.objects.link(users_obj)
    before = datablocks()
    job = render.RenderJob(render.sources_from_files([motion_file]), tmp_path / "r", frames_per_motion=3)
    steps = job.steps()
    assert next(steps) == 1  # the private scene exists now
    made = {k: set(v) - set(before[k]) for k, v in datablocks().items()}
    assert made["scenes"] == {render.SCENE_NAME} and made["objects"] and made["meshes"]
    # the user adds data of every kind the job makes, and renames things of theirs and of the job
    new_obj = bpy.data.objects.new("Added_objects", bpy.data.meshes.new("Added_meshes"))
    fresh.scene.collection.objects.link(new_obj)
    for kind in ("cameras", "materials", "worlds", "actions", "armatures", "scenes"):
        getattr(bpy.data, kind).new("Added_" + kind)
    bpy.data.lights.new("Added_lights", 'POINT')
    users_obj.name = "Renamed_By_User"
    job.cam.name = "Job_Camera_Renamed_By_User"  # still the job's: removed at the end
    assert next(steps) == 2
    for _ in steps:
        pass
    assert job.complete
    expected = {k: set(v) for k, v in before.items()}
    for kind in KINDS:
        expected[kind].add("Added_" + kind)
    expected["objects"] = (expected["objects"] - {"Users_Object"}) | {"Renamed_By_User"}
    assert datablocks() == {k: sorted(v) for k, v in expected.items()}
    assert users_obj.data == users_mesh and new_obj.users_collection[0] == fresh.scene.collection


def test_this_blender_accepts_the_render_engine_identifiers():
    scene = bpy.data.scenes.new("engine_check")
    try:
        for name in ("WORKBENCH", "EEVEE"):  # this Blender accepts the identifiers chosen for it
            scene.render.engine = render.ENGINES[name]
            assert scene.render.engine == render.ENGINES[name]
    finally:
        bpy.data.scenes.remove(scene)


def test_render_operator_cancel_closes_the_job(fresh, motion_file, tmp_path):
    """File load / window close call the operator's ``cancel``: the job's teardown must run as on Esc."""
    from motionclip_blender.blender.ops.render import MOTIONCLIP_OT_render_dataset as Op

    class StandIn:  # a bpy Operator cannot be instantiated outside Blender's operator machinery
        _stop, _end, cancel = Op._stop, Op._end, Op.cancel
        _timer = None

    before = datablocks()
    op, wm = StandIn(), fresh.window_manager
    op._job = render.RenderJob(render.sources_from_files([motion_file]), tmp_path / "r", frames_per_motion=3)
    op._gen = op._job.steps()
    op._timer = wm.event_timer_add(0.01, window=None)
    wm.motionclip_status = "MotionCLIP: rendering frame 1/3"
    assert next(op._gen) == 1 and render.SCENE_NAME in bpy.data.scenes
    op.cancel(fresh)
    assert datablocks() == before and op._gen is None and op._timer is None and wm.motionclip_status == ""
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert not manifest["complete"] and len(manifest["items"]) == 1
