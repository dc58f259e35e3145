"""The prompt suite's own measures (the suite itself runs on the bundled model in test_bundled_model.py)."""

import numpy as np
import pytest

from motionclip_blender.core.training.prompt_suite import pose_difference


def test_pose_difference_ignores_the_path_and_measures_the_pose():
    rng = np.random.default_rng(0)
    take = rng.normal(size=(30, 24, 3))
    moved = take + np.array([2.0, -1.0, 0.0]) + np.linspace(0, 3, 30)[:, None, None]  # the same take elsewhere
    assert pose_difference(take, moved) == pytest.approx(0.0, abs=1e-12)
    other = take.copy()
    other[:, 20, 2] += 0.24  # one wrist of 24 joints 24 cm higher throughout: 1 cm mean
    assert pose_difference(take, other[:20]) == pytest.approx(0.01)  # over the common frames
