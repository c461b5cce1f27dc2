"""Labelled data files for a model that takes no labels: `score` and `detect` use the
images, ignore the labels and say so in one line (and a label given to such a model from
Python is refused, also when the check runs inside a compiled function)."""
import numpy as np
import pytest

import glow_prior
from glow_prior.apps import detect, score
from glow_prior.config import GlowConfig, TrainConfig
from tests.conftest import TINY_TRAINING


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("labels") / "glow")
    images = np.random.default_rng(0).integers(0, 256, (128, 8, 8, 1)).astype(np.uint8)
    glow_prior.train(GlowConfig(n_levels=2, depth=1, width=8), logdir, images,
                     test_data=images[:64], training=TrainConfig(**TINY_TRAINING),
                     show_progress=False)
    return logdir, images


def test_score_ignores_the_labels_of_a_labelled_file_and_says_so(run, tmp_path, capsys):
    logdir, images = run
    archive = tmp_path / "labelled.npz"
    np.savez(archive, x=images[:10], y=np.arange(10))
    assert score.main(["score", f"--logdir={logdir}", f"--images={archive}",
                       f"--output={tmp_path / 'scores.npz'}"]) == 0
    out = capsys.readouterr().out
    assert "holds labels 'y'; this model is not class-conditional, so they are not used" in out
    unlabelled = tmp_path / "plain.npz"
    np.savez(unlabelled, x=images[:10])
    assert score.main(["score", f"--logdir={logdir}", f"--images={unlabelled}",
                       f"--output={tmp_path / 'plain_scores.npz'}"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npz")["log_likelihood"],
                                  np.load(tmp_path / "plain_scores.npz")["log_likelihood"])


def test_detect_ignores_them_too(run, tmp_path, capsys):
    logdir, images = run
    detector = glow_prior.fit_detector(glow_prior.load(logdir), images[:64], images[64:])
    glow_prior.save_detector(detector, f"{logdir}/detectors/ll", logdir)
    archive = tmp_path / "labelled.npz"
    np.savez(archive, x=images[:10], y=np.arange(10))
    assert detect.main(["detect", f"--detector={logdir}/detectors/ll", f"--images={archive}",
                        f"--output={tmp_path / 'out.npz'}"]) == 0
    assert "they are not used" in capsys.readouterr().out
