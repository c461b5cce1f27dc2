"""Detectors saved with their run: bound to the weights they were fitted on, and every
damaged or hand-edited detector file refused in one line naming the file and the field.

The binaries are called in this process (their `main`, the same error boundary as the
command line: exit status 2 and one `error:` line) on a tiny tabular run.
"""
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

import glow_prior
from glow_prior.apps import detect, export_savedmodel, fit_detector
from glow_prior.config import TabularDataConfig, TabularFlowConfig, TrainConfig
from glow_prior.errors import InputError
from glow_prior.runs.detectors import DETECTOR_FILE, FIT_FILE, load_detector
from tests.conftest import TINY_TRAINING


def _one_error_line(capsys, *expected):
    """The captured stderr is one `error:` line that contains every `expected` text."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny tabular run (the synthetic 2-D mixture) with a log-likelihood detector, and
    examples to apply it to."""
    run = str(tmp_path_factory.mktemp("detectors") / "tabular")
    glow_prior.train(TabularFlowConfig(n_couplings=2, hidden_units=8), run,
                     TabularDataConfig(dataset="synthetic_2d"),
                     training=TrainConfig(**TINY_TRAINING), show_progress=False)
    assert fit_detector.main(["fit_detector", f"--logdir={run}", "--name=ll"]) == 0
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    images = os.path.join(run, "points.npz")
    np.savez(images, x=x)
    return run, os.path.join(run, "detectors", "ll"), images


def _detect(folder, images, output, *extra):
    return detect.main(["detect", f"--detector={folder}", f"--images={images}",
                        f"--output={output}", *extra])


def test_a_detector_applies_to_the_weights_it_was_fitted_on(fitted, tmp_path):
    run, folder, images = fitted
    assert _detect(folder, images, tmp_path / "out.npz") == 0
    decisions = np.load(tmp_path / "out.npz")
    assert decisions["is_outlier"].shape == (20,)
    record = json.loads(open(os.path.join(folder, DETECTOR_FILE)).read())["fitted_on"]
    spec = glow_prior.load(run).run_spec
    assert record["run_id"] == spec.run_id and record["checkpoint"].startswith("ckpt-")
    assert len(record["weights"]) == 16


def test_a_detector_copied_into_another_run_is_refused(fitted, tmp_path, capsys):
    _, folder, images = fitted
    other = str(tmp_path / "other")
    glow_prior.train(TabularFlowConfig(n_couplings=2, hidden_units=8, seed=1), other,
                     TabularDataConfig(dataset="synthetic_2d"),
                     training=TrainConfig(**TINY_TRAINING), show_progress=False)
    copied = os.path.join(other, "detectors", "ll")
    shutil.copytree(folder, copied)
    output = tmp_path / "out.npz"
    assert _detect(copied, images, output) == 2
    _one_error_line(capsys, "another run", glow_prior.load(other).run_spec.run_id,
                    "--allow_other_weights")
    assert not output.exists()
    assert export_savedmodel.main(["export_savedmodel", f"--logdir={other}",
                                   f"--export_dir={tmp_path / 'export'}",
                                   f"--detector={folder}"]) == 2
    _one_error_line(capsys, "another run")
    assert not (tmp_path / "export").exists()


def test_a_detector_is_refused_after_its_run_trained_on(fitted, tmp_path, capsys):
    run, _, images = fitted
    longer = str(tmp_path / "longer")
    shutil.copytree(run, longer)
    folder = os.path.join(longer, "detectors", "ll")
    glow_prior.train(TabularFlowConfig(n_couplings=2, hidden_units=8), longer,
                     TabularDataConfig(dataset="synthetic_2d"),
                     training=TrainConfig(**{**TINY_TRAINING, "epochs": 2}),
                     show_progress=False)
    assert _detect(folder, images, tmp_path / "out.npz") == 2
    _one_error_line(capsys, "other weights of the same run", "ckpt-")
    assert _detect(folder, images, tmp_path / "out.npz", "--allow_other_weights") == 0


def _damaged(fitted, tmp_path, damage):
    """A copy of the detector folder (inside the run directory, so its run is found) with
    `damage(folder)` applied."""
    _, folder, _ = fitted
    copy = os.path.join(os.path.dirname(folder), f"damaged_{tmp_path.name}")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)
    damage(copy)
    return copy


def _edit_settings(change):
    def damage(folder):
        path = os.path.join(folder, DETECTOR_FILE)
        with open(path) as f:
            settings = json.load(f)
        with open(path, "w") as f:
            f.write(change(settings) if callable(change) else change)
    return damage


def _set(**fields):
    return _edit_settings(lambda settings: json.dumps({**settings, **fields}))


def _without(name):
    return _edit_settings(lambda settings: json.dumps(
        {k: v for k, v in settings.items() if k != name}))


def _rewrite_fit(change):
    def damage(folder):
        path = os.path.join(folder, FIT_FILE)
        with np.load(path) as archive:
            arrays = dict(archive)
        np.savez(path, **change(arrays))
    return damage


def _truncate_fit(folder):
    path = os.path.join(folder, FIT_FILE)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


DAMAGES = {
    "fit.npz holds a pickled object": (_rewrite_fit(lambda a: {
        **a, "train_x": np.array([{"a": 1}] * 3, dtype=object)}), FIT_FILE),
    "fit.npz truncated": (_truncate_fit, FIT_FILE),
    "fit.npz without calibration_scores": (_rewrite_fit(lambda a: {
        "train_x": a["train_x"]}), "calibration_scores"),
    "fit.npz train_x of another shape": (_rewrite_fit(lambda a: {
        **a, "train_x": np.zeros((5, 7), np.float32)}), "train_x"),
    "fit.npz deleted": (lambda folder: os.remove(os.path.join(folder, FIT_FILE)), FIT_FILE),
    "string threshold": (_set(threshold="0.5"), "'threshold'"),
    "NaN threshold": (_set(threshold=float("nan")), "'threshold' must be a finite number"),
    "no threshold": (_without("threshold"), "'threshold'"),
    "no record of its run": (_without("fitted_on"), "'fitted_on'"),
    "unknown output": (_set(output="no_such_output"), "'output'"),
    "unknown score": (_set(score="no_such_score"), "'score'"),
    "tpr out of range": (_set(tpr=1.5), "'tpr'"),
    "a list instead of an object": (_edit_settings("[1, 2, 3]"), "JSON object"),
    "not JSON": (_edit_settings("{threshold: "), "not a detector file"),
    "an earlier format": (_set(format=1), "format 1"),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_a_damaged_detector_file_is_one_line_naming_it(fitted, tmp_path, capsys, case):
    damage, expected = DAMAGES[case]
    folder = _damaged(fitted, tmp_path, damage)
    output = tmp_path / "out.npz"
    before = {name: open(os.path.join(folder, name), "rb").read()
              for name in os.listdir(folder)}
    assert _detect(folder, fitted[2], output) == 2
    line = _one_error_line(capsys, expected)
    assert folder in line or os.path.basename(folder) in line
    assert not output.exists()
    assert before == {name: open(os.path.join(folder, name), "rb").read()
                      for name in os.listdir(folder)}
    shutil.rmtree(folder)


def test_the_python_api_raises_the_same_errors(fitted, tmp_path):
    folder = _damaged(fitted, tmp_path, _set(threshold=float("inf")))
    with pytest.raises(InputError, match="'threshold' must be a finite number"):
        load_detector(folder)
    shutil.rmtree(folder)
    with pytest.raises(InputError, match="detector.json does not exist"):
        load_detector(str(tmp_path))
    assert zipfile.is_zipfile(os.path.join(fitted[1], FIT_FILE))
