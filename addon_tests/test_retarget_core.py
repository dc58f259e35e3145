"""Retarget math without Blender: a numpy re-implementation of Blender's pose evaluation checks that the
channels put every mapped bone where the SMPL source points, and that rig -> SMPL inverts it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from addon_tests import rig_builders as rb
from motionclip_blender.core.rig.bone_names import BoneMapError, check_bone_map
from motionclip_blender.core.rig import presets as rig_maps
from motionclip_blender.core.motion import rotations as R
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.rig.retarget import Retargeter, RetargetError
from motionclip_blender.core.motion.skeleton import JOINT_INDEX, JOINT_NAMES
from motionclip_blender.core.paths import data_root


def random_motion(frames=40, seed=0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    q = R.axis_angle_to_quaternion(torch.randn(frames, 24, 3, generator=g) * 0.5).numpy()
    t = np.cumsum(torch.randn(frames, 3, generator=g).numpy() * 0.03, 0) + [0.3, -0.2, 0.92]
    return Motion(q, t, 30.0)


def evaluate_pose(rig, channels) -> np.ndarray:
    """Blender's pose evaluation: P_b = P_parent · Rest_parent⁻¹ · Rest_b · Basis_b (armature space)."""
    rest = rig.rest
    idx = {n: i for i, n in enumerate(rig.names)}
    frames = channels.quaternions.shape[0]
    basis = np.tile(np.eye(4), (frames, len(rig.names), 1, 1))
    rot = R.quaternion_to_matrix(torch.from_numpy(channels.quaternions).double()).numpy()
    for k, name in enumerate(channels.bones):
        basis[:, idx[name], :3, :3] = rot[:, k]
    basis[:, idx[channels.location_bone], :3, 3] = channels.location
    pose = np.empty_like(basis)
    for b, p in enumerate(rig.parents):
        local = rest[b] if p < 0 else np.linalg.inv(rest[p]) @ rest[b]
        pose[:, b] = (local @ basis[:, b]) if p < 0 else pose[:, p] @ local @ basis[:, b]
    return pose


def world_dirs(test_rig, rt, pose) -> np.ndarray:
    """Mapped joints' posed directions in *world* space, computed from bone heads without the retargeter's K."""
    rot = test_rig.object_matrix[:3, :3]
    out = []
    for j in sorted(rt.joint_bone):
        b, c = rt.joint_bone[j], rt.towards[j]
        d = pose[:, rt.joint_bone[c], :3, 3] - pose[:, b, :3, 3] if c is not None else pose[:, b, :3, 1]
        d = d @ rot.T
        out.append(d / np.linalg.norm(d, axis=-1, keepdims=True))
    return np.stack(out, 1)


@pytest.fixture(scope="module")
def motion():
    return random_motion()


def _ue_in_centimetres() -> rb.TestRig:
    """The UE rig without the 0.01 object scale: a 100x character in the world, root motion must follow."""
    test_rig = rb.ue_mannequin()
    test_rig.object_matrix[:3, :3] *= 100.0
    return test_rig


RIGS = {**rb.ALL_RIGS, "ue_100x": _ue_in_centimetres}


@pytest.mark.parametrize("style", sorted(RIGS))
def test_directions_round_trip_and_root(style, motion):
    test_rig = RIGS[style]()
    rig = test_rig.rig_rest()
    detection = rig_maps.detect(rig.names)
    assert detection.preset == test_rig.expected_preset and detection.ok, detection.report()
    rt = Retargeter(rig, detection.bone_map)
    channels = rt.to_rig(motion)
    pose = evaluate_pose(rig, channels)

    # per mapped joint and frame, world directions = the character's heading applied to SMPL's
    expected = rt.smpl_directions(motion) @ test_rig.heading.T
    err = rb.angle_deg(world_dirs(test_rig, rt, pose), expected)
    print(f"{style}: max direction error {err.max():.2e} deg over {err.size} joint-frames")
    assert err.max() < 0.05

    back = rt.from_rig(pose, motion.fps)
    mm = np.linalg.norm(back.joint_positions() - motion.joint_positions(), axis=-1) * 1000
    print(f"{style}: SMPL -> rig -> SMPL mean {mm.mean():.3f} mm, max {mm.max():.3f} mm")
    assert mm.mean() < 1.0

    # root: displacement from the rest pelvis, in world, is the SMPL one scaled by the hip-height ratio
    obj = test_rig.object_matrix
    pelvis_world = pose[:, rt.joint_bone[0], :3, 3] @ obj[:3, :3].T + obj[:3, 3]
    rest_world = obj[:3, :3] @ rig.rest[rt.joint_bone[0], :3, 3] + obj[:3, 3]
    s_world = rt.scale * rt.object_scale
    from motionclip_blender.core.motion.skeleton import rest_pelvis_height

    want = (motion.translation - [0, 0, rest_pelvis_height()]) @ test_rig.heading.T * s_world + rest_world
    assert np.abs(pelvis_world - want).max() < 1e-4 * max(1.0, s_world)


def test_unmapped_bones_follow_their_parent(motion):
    test_rig = rb.rigify()
    rig = test_rig.rig_rest()
    rt = Retargeter(rig, rig_maps.detect(rig.names).bone_map)
    channels = rt.to_rig(motion)
    assert "DEF-f_middle.01.L" in channels.bones
    for name in ("DEF-upper_arm.L.001", "DEF-spine.005", "DEF-shin.R.001"):
        q = channels.quaternions[:, channels.bones.index(name)]
        assert np.abs(np.abs(q[:, 0]) - 1).max() < 1e-6, name  # identity: rides on the parent
    assert "DEF-pelvis.L" not in channels.bones  # not above any mapped bone: left alone
    # UE: the root bone above the pelvis is keyed at rest, the pelvis carries the translation
    ue = rb.ue_mannequin().rig_rest()
    ch = Retargeter(ue, rig_maps.detect(ue.names).bone_map).to_rig(motion)
    assert ch.location_bone == "pelvis" and "root" in ch.bones


def test_smpl_rig_is_identity(motion):
    """On a rig with SMPL's own rest pose K = I and C = I: the channels are bake.py's R⁻¹·q·R."""
    test_rig = rb.TestRig("smpl", [], np.eye(4), np.eye(3), "smpl")
    p = rb.joints("rest", 1.0)
    from motionclip_blender.core.motion.skeleton import PARENTS, PRIMARY_CHILD, leaf_tip

    b = rb._Builder(5)
    for j, n in enumerate(JOINT_NAMES):
        c = PRIMARY_CHILD.get(j)
        b.add(n, p[n], p[JOINT_NAMES[c]] if c is not None else p[n] + leaf_tip(j),
              JOINT_NAMES[PARENTS[j]] if PARENTS[j] >= 0 else None)
    test_rig.bones = b.bones
    rig = test_rig.rig_rest()
    rt = Retargeter(rig, rig_maps.detect(rig.names).bone_map)
    assert np.abs(rt.K - np.eye(3)).max() < 1e-9 and rt.scale == pytest.approx(1.0)
    assert max(np.abs(c - np.eye(3)).max() for c in rt.corr.values()) < 1e-6
    pose = evaluate_pose(rig, rt.to_rig(motion))
    heads = pose[:, [rig.names.index(n) for n in JOINT_NAMES]][..., :3, 3]
    assert np.abs(heads - motion.joint_positions()).max() < 1e-5


def test_root_modes(motion):
    test_rig = rb.mixamo()
    rig = test_rig.rig_rest()
    rt = Retargeter(rig, rig_maps.detect(rig.names).bone_map)
    pelvis = rt.joint_bone[0]

    in_place = evaluate_pose(rig, rt.to_rig(motion, "IN_PLACE"))
    xy = in_place[:, pelvis, :2, 3]
    assert np.abs(xy - rig.rest[pelvis, :2, 3]).max() < 1e-6  # horizontal root motion gone
    full = evaluate_pose(rig, rt.to_rig(motion, "FULL"))
    assert np.abs(in_place[:, pelvis, 2, 3] - full[:, pelvis, 2, 3]).max() < 1e-6  # vertical kept

    # the character stands elsewhere, turned 90°: the clip starts there, facing that way
    current = evaluate_pose(rig, rt.to_rig(random_motion(1, seed=5).rotated_about_z(np.pi / 2), "FULL"))[0]
    current[:, :3, 3] += [2.0, -1.0, 0.0]
    keep = evaluate_pose(rig, rt.to_rig(motion, "KEEP_START", current))
    assert np.abs(keep[0, pelvis, :2, 3] - current[pelvis, :2, 3]).max() < 1e-5
    left = lambda pose: sum(pose[..., rt.joint_bone[JOINT_INDEX[a]], :2, 3] - pose[..., rt.joint_bone[JOINT_INDEX[b]], :2, 3]  # noqa: E731
                            for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")))
    ang = lambda v: np.degrees(np.arctan2(v[..., 1], v[..., 0]))  # noqa: E731
    assert abs((ang(left(keep[0])) - ang(left(current)) + 180) % 360 - 180) < 0.5
    # and the path keeps its shape (same step lengths)
    steps = lambda pose: np.linalg.norm(np.diff(pose[:, pelvis, :3, 3], axis=0), axis=-1)  # noqa: E731
    assert np.abs(steps(keep) - steps(full)).max() < 1e-5
    with pytest.raises(RetargetError, match="current pose"):
        rt.to_rig(motion, "KEEP_START")


def test_detection_variants_and_confidence():
    names = [b.name for b in rb.mixamo(prefix="").bones]
    d = rig_maps.detect(names)
    assert d.preset == "mixamo" and d.bone_map["left_shoulder"] == "LeftArm" and d.confidence == 1.0
    d = rig_maps.detect([b.name for b in rb.mixamo(prefix="mixamorig1:").bones])
    assert d.preset == "mixamo" and d.bone_map["pelvis"] == "mixamorig1:Hips"
    assert "mixamo: 24/24 joints, confidence 100%" in d.report()
    d = rig_maps.detect(["Bone", "Bone.001"])
    assert not d.ok and d.confidence == 0.0 and "pelvis" in d.missing_required
    partial = [n for n in names if "Left" not in n]
    d = rig_maps.detect(partial)
    assert d.preset == "mixamo" and set(d.missing_required) == {"left_hip", "left_knee", "left_ankle",
                                                                "left_shoulder", "left_elbow", "left_wrist"}
    assert 0 < d.confidence < 1


def test_humanik_and_rokoko_names_are_detected():
    sides = [f"{side}{part}" for side in ("Left", "Right") for part in ("Shoulder", "Arm", "ForeArm", "Hand")]
    hik = ["Character1_Reference"] + [f"Character1_{n}" for n in (
        ["Hips", "Spine", "Spine1", "Spine2", "Spine3", "Neck", "Head"] + sides
        + [f"{s}{p}" for s in ("Left", "Right") for p in ("UpLeg", "Leg", "Foot", "ToeBase")])]
    d = rig_maps.detect(hik)
    assert d.preset == "humanik" and d.ok and d.bone_map["left_knee"] == "Character1_LeftLeg"
    assert d.bone_map["spine3"] == "Character1_Spine3"
    rokoko = ["Hips", "Spine1", "Spine2", "Spine3", "Spine4", "Neck", "Head"] + sides + [
        f"{s}{p}" for s in ("Left", "Right") for p in ("Thigh", "Shin", "Foot", "Toe")]
    d = rig_maps.detect(rokoko)
    assert d.preset == "rokoko" and d.ok and d.bone_map["left_hip"] == "LeftThigh"
    assert d.bone_map["spine3"] == "Spine4" and d.bone_map["left_shoulder"] == "LeftArm"


def test_missing_required_bones_is_an_error():
    rig = rb.mixamo().rig_rest()
    bone_map = rig_maps.detect(rig.names).bone_map
    del bone_map["left_elbow"], bone_map["head"]
    with pytest.raises(RetargetError, match="missing required joints: left_elbow, head|head, left_elbow"):
        Retargeter(rig, bone_map)


def test_user_preset_save_load(tmp_path, motion):
    rig = rb.ue_mannequin().rig_rest()
    bone_map = rig_maps.detect(rig.names).bone_map
    bone_map["spine3"] = "spine_03"  # a custom choice that differs from the built-in
    path = rig_maps.save_preset(tmp_path, "My UE rig", bone_map)
    assert path.name == "My_UE_rig.json" and json.loads(path.read_text())["bones"]["spine3"] == "spine_03"
    presets = rig_maps.available_presets(tmp_path)
    assert list(presets)[:4] == ["smpl", "mixamo", "rigify", "ue_mannequin"] and "My_UE_rig" in presets
    loaded = presets["My_UE_rig"].resolve(rig.names)
    assert loaded == bone_map
    a = Retargeter(rig, bone_map).to_rig(motion)
    b = Retargeter(rig, loaded).to_rig(motion)
    assert np.array_equal(a.quaternions, b.quaternions) and np.array_equal(a.location, b.location)
    with pytest.raises(rig_maps.PresetError, match="built-in"):
        rig_maps.save_preset(tmp_path, "mixamo", bone_map)
    with pytest.raises(BoneMapError, match="'nope' .for pelvis. is not in the skeleton"):
        check_bone_map({"pelvis": "nope"}, rig.names)
    with pytest.raises(BoneMapError, match="mapped to more than one joint"):
        check_bone_map({"pelvis": rig.names[0], "spine1": rig.names[0].upper()}, rig.names)
    assert check_bone_map({"pelvis": rig.names[0].upper(), "head": ""}, rig.names) == {"pelvis": rig.names[0]}
    (tmp_path / "broken.json").write_text("{not json")
    assert "broken" not in rig_maps.available_presets(tmp_path)  # skipped, the others still load
    with pytest.raises(rig_maps.PresetError, match="cannot read"):
        rig_maps.load_preset(tmp_path / "broken.json")


def test_unmapped_smpl_joints_between_mapped_ones(motion):
    """A rig with one spine bone fewer and no clavicles: the bones spanning the gaps still point where the
    SMPL chain points (a swing on top of the joint's own rotation)."""
    test_rig = rb.mixamo()
    rig = test_rig.rig_rest()
    bone_map = rig_maps.detect(rig.names).bone_map
    for j in ("spine2", "left_collar", "right_collar"):
        del bone_map[j]
    rt = Retargeter(rig, bone_map)
    assert rt.towards[JOINT_INDEX["spine1"]] == JOINT_INDEX["spine3"]
    pose = evaluate_pose(rig, rt.to_rig(motion))
    err = rb.angle_deg(world_dirs(test_rig, rt, pose), rt.smpl_directions(motion) @ test_rig.heading.T)
    print(f"gaps: max direction error {err.max():.2e} deg")
    assert err.max() < 0.05
    back = rt.from_rig(pose)  # the collars and spine2 come back following their parents
    assert np.abs(back.rotations[:, JOINT_INDEX["left_collar"], 0] - 1).max() < 1e-5


def test_rig_detection_picks_the_right_preset_for_every_file_of_the_shared_data():
    """One bone-name table serves the importer and the rig binder: the rig presets detect every skeleton
    convention of shared/data by its joint names (as Blender's BVH importer names the bones)."""
    import json
    from pathlib import Path

    from motionclip_blender.core.rig import presets as rig_maps
    from motionclip_blender.core.io.asf_amc import parse_asf
    from motionclip_blender.core.io.bvh import parse_bvh

    data = data_root()
    if not (data / "cmu" / "index.json").is_file():
        pytest.skip("no shared data")
    expected = {"cgspeed-motionbuilder": "motionbuilder", "cgspeed-3dsmax": "3dsmax", "hahne-daz": "daz",
                "iclone-cc-base": "iclone-cc", "cmu-asf": "cmu-asf"}
    index = json.loads((data / "cmu" / "index.json").read_text())
    wrong, seen = [], set()
    for entry in index["trials"] + index["variants"]:
        family = entry["skeleton"].split(" ")[0] if "skeleton" in entry else entry["file"].split("/")[1]
        path = data / "cmu" / entry["file"]
        names = parse_bvh(path).names if path.suffix == ".bvh" else parse_asf(data / "cmu" / entry["asf"]).names
        detection = rig_maps.detect(names)
        seen.add(family)
        # Hahne's 16_01/16_02 kept CMU's Acclaim bone names (hip, lfemur, ...): those are CMU ASF names
        allowed = {expected.get(family, family)} | ({"cmu-asf"} if family == "hahne-daz" else set())
        if detection.preset not in allowed or detection.missing_required:
            wrong.append(f"{entry['file']}: {family} -> {detection.preset} {detection.missing_required}")
    for clip in json.loads((data / "hdm05" / "index.json").read_text())["clips"][:1]:
        assert rig_maps.detect(parse_asf(data / "hdm05" / clip["asf"]).names).preset == "cmu-asf"
    assert not wrong, wrong
    assert seen >= {"cgspeed-motionbuilder", "hahne-daz", "iclone-cc-base", "cmu-asf"}
