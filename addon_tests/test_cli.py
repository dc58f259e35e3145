"""The motionclip command line, run in-process through main(argv)."""

import json

import numpy as np
import pytest

from motionclip_blender.core.io.bvh import read_smpl_bvh
from motionclip_blender.core.cli import main
from motionclip_blender.core.motion.motion import Motion
from motionclip_blender.core.model.labels import default_labels

from .test_api import small_checkpoint  # noqa: F401  (module-scoped fixture)
from .test_motion import random_motion


def test_generate_to_npz_and_bvh(small_checkpoint, tmp_path, capsys):
    assert main(["generate", "a person walks", "--model", str(small_checkpoint), "--frames", "40",
                 "--out", str(tmp_path / "walk.npz")]) == 0
    m = Motion.load_npz(tmp_path / "walk.npz")
    assert len(m) == 40
    assert main(["generate", "a person walks", "--model", str(small_checkpoint), "--frames", "40",
                 "--out", str(tmp_path / "walk.bvh")]) == 0
    b = read_smpl_bvh(tmp_path / "walk.bvh")
    assert np.abs(b.joint_positions() - m.joint_positions()).max() < 1e-3  # same prompt, same motion
    assert main(["generate", "a person walks", "--model", str(small_checkpoint), "--seconds", "1.5",
                 "--out", str(tmp_path / "walk15.npz")]) == 0
    assert len(Motion.load_npz(tmp_path / "walk15.npz")) == 45
    assert "wrote" in capsys.readouterr().out


def test_encode_recognize_edit_interpolate(small_checkpoint, tmp_path, capsys):
    random_motion(60, seed=3).save_npz(tmp_path / "m.npz")
    assert main(["encode", str(tmp_path / "m.npz"), "--model", str(small_checkpoint)]) == 0
    z = json.loads(capsys.readouterr().out)
    assert len(z) == 384 and abs(np.linalg.norm(z) - 1) < 1e-4
    (tmp_path / "labels.txt").write_text("walk\nrun\n\njump\n")
    assert main(["recognize", str(tmp_path / "m.npz"), "--labels", str(tmp_path / "labels.txt"),
                 "--model", str(small_checkpoint), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(l.split()[-1] in ("walk", "run", "jump") for l in lines)
    # the shipped list: its '#' comment lines are not labels
    assert main(["recognize", str(tmp_path / "m.npz"), "--model", str(small_checkpoint), "--top-k", "100"]) == 0
    names = [l.split(None, 1)[1] for l in capsys.readouterr().out.strip().splitlines()]
    shipped = default_labels()
    assert sorted(names) == sorted(shipped) and "walk" in names and not any("#" in n or "Default" in n for n in names)
    (tmp_path / "empty.txt").write_text("# nothing but a comment\n")
    assert main(["recognize", str(tmp_path / "m.npz"), "--labels", str(tmp_path / "empty.txt"),
                 "--model", str(small_checkpoint)]) == 2
    assert "label list is empty" in capsys.readouterr().err
    assert main(["edit", str(tmp_path / "m.npz"), "walk", "run", "--model", str(small_checkpoint),
                 "--out", str(tmp_path / "e.npz")]) == 0
    assert len(Motion.load_npz(tmp_path / "e.npz")) == 60
    assert main(["interpolate", "walk", "jump", "--steps", "3", "--frames", "20", "--model", str(small_checkpoint),
                 "--out", str(tmp_path / "i.npz")]) == 0
    assert sorted(p.name for p in tmp_path.glob("i_*.npz")) == ["i_00.npz", "i_01.npz", "i_02.npz"]


def test_clear_errors(small_checkpoint, tmp_path, capsys):
    assert main(["encode", str(tmp_path / "missing.npz"), "--model", str(small_checkpoint)]) == 2
    assert "missing.npz" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("x")
    assert main(["encode", str(tmp_path / "x.txt"), "--model", str(small_checkpoint)]) == 2
    assert "unsupported motion file type" in capsys.readouterr().err
    assert main(["generate", "walk", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o.npz")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    assert main(["generate", "walk", "--model", str(small_checkpoint), "--out", str(tmp_path / "o.txt")]) == 2
    assert "must end in .npz or .bvh" in capsys.readouterr().err
    assert not (tmp_path / "o.txt").exists()
    with pytest.raises(SystemExit):
        main(["generate"])  # argparse: missing prompt


@pytest.mark.parametrize("length, message", [(["--seconds", "inf"], "--seconds must be a positive number"),
                                             (["--seconds", "0"], "--seconds must be a positive number"),
                                             (["--frames", "0"], "--frames must be at least 1"),
                                             (["--frames", "100000"], "at most 700 frames")])


def test_bad_lengths_are_errors_not_defaults(small_checkpoint, tmp_path, capsys, length, message):
    assert main(["generate", "walk", "--model", str(small_checkpoint), "--out", str(tmp_path / "o.npz")]
                + length) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_outputs_are_written_where_asked_or_refused_cleanly(small_checkpoint, tmp_path, capsys):
    random_motion(30, seed=3).save_npz(tmp_path / "m.npz")
    assert main(["encode", str(tmp_path / "m.npz"), "--model", str(small_checkpoint),
                 "--out", str(tmp_path / "lat.bin")]) == 0
    assert (tmp_path / "lat.bin").is_file() and not (tmp_path / "lat.bin.npy").exists()
    assert np.load(tmp_path / "lat.bin").shape == (384,)
    (tmp_path / "adir.npz").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["generate", "walk", "--model", str(small_checkpoint), "--out", str(tmp_path / "adir.npz")]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary left behind
    assert main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "x.npz"), "--asf", "a.asf"]) == 2
    assert "--asf names the skeleton of an .amc file" in capsys.readouterr().err


def test_bugs_keep_their_traceback(monkeypatch):
    import motionclip_blender.core.cli as cli

    def broken(args):
        raise KeyError("a bug, not a user error")

    monkeypatch.setattr(cli, "cmd_convert", broken)
    with pytest.raises(KeyError):
        main(["convert", "a.npz", "b.npz"])


def test_generate_options_and_sequences(small_checkpoint, tmp_path, capsys):
    assert main(["generate", "walk, then jump", "--sequence", "--model", str(small_checkpoint),
                 "--out", str(tmp_path / "s.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[-1] for l in lines if l.startswith("frames")] == ["walk", "jump"]
    assert len(Motion.load_npz(tmp_path / "s.npz")) == 2 * 60 - 10
    assert main(["generate", "walk", "--root", "in_place", "--frames", "40", "--model", str(small_checkpoint),
                 "--out", str(tmp_path / "p.npz")]) == 0
    assert np.ptp(Motion.load_npz(tmp_path / "p.npz").translation[:, :2], axis=0).max() < 1e-6


def test_options_a_command_would_ignore_are_errors(small_checkpoint, tmp_path, capsys):
    """--sequence takes its lengths from --seconds or the prompt and makes no loop; an existing file that is no
    motion file (the .npy `encode --out` writes) is not read as the words of a prompt; an edit of a clip longer
    than the model decodes says so, and --frames shortens it."""
    model = ["--model", str(small_checkpoint)]
    for extra in (["--frames", "10"], ["--loop"]):
        assert main(["generate", "walk, then wave", "--sequence", "--out", str(tmp_path / "s.npz")] + model
                    + extra) == 2
        assert "drop --frames and --loop" in capsys.readouterr().err
    np.save(tmp_path / "z.npy", np.zeros(384, np.float32))
    assert main(["edit", str(tmp_path / "z.npy"), "walk", "run", "--out", str(tmp_path / "e.npz")] + model) == 2
    assert "z.npy: not a motion file" in capsys.readouterr().err
    random_motion(800, seed=5).save_npz(tmp_path / "long.npz")  # the small model decodes at most 700 frames
    assert main(["edit", str(tmp_path / "long.npz"), "walk", "run", "--out", str(tmp_path / "e.npz")] + model) == 2
    assert "the base clip is 800 frames" in capsys.readouterr().err
    assert main(["edit", str(tmp_path / "long.npz"), "walk", "run", "--frames", "90",
                 "--out", str(tmp_path / "e.npz")] + model) == 0
    assert len(Motion.load_npz(tmp_path / "e.npz")) == 90
    assert not (tmp_path / "s.npz").exists()
