"""The training loop: learning, run directories, resume, NaN handling, determinism."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from glow_prior import runs, training
from glow_prior.data import DataConfig
from glow_prior.models.glow import GlowConfig
from glow_prior.objectives import MaximumLikelihood
from glow_prior.priors import PriorConfig
from tests.conftest import REPO

ARCHITECTURE = GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=2, width=8,
                          flow_coupling=1, scale_offset=0.1, multiscale=False,
                          three_axis_1x1=True)


def _images(n=128, seed=0):
    """Structured toy images: a bright square at a random place on a dark background."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 30, (n, 8, 8, 1))
    for image, (row, col) in zip(x, rng.integers(0, 5, (n, 2))):
        image[row:row + 3, col:col + 3] = rng.integers(200, 256)
    return x.astype(np.uint8), rng.integers(0, 2, n)


def _trainer(logdir, epochs, objective=None, prior=PriorConfig(), **config):
    x, y = _images()
    settings = dict(n_batch_train=32, n_batch_init=64, epochs=epochs, epochs_warmup=1,
                    epochs_full_valid=1, epochs_full_sample=100, lr=0.005)
    settings.update(config)
    train_config = training.TrainConfig(**settings)
    hparams = training.run_hparams("glow", ARCHITECTURE, prior, DataConfig("toy"),
                                   train_config)
    test = training.TrainData(*_images(64, seed=1))
    return training.Trainer(hparams, str(logdir), training.TrainData(x, y, prior.assign(x, y)),
                            train_config, objective or MaximumLikelihood(), test_data=test,
                            show_progress=False)


def _lines(path):
    return [json.loads(line) for line in open(path)]


def test_training_learns_and_leaves_a_loadable_run_dir(tmp_path):
    trainer = _trainer(tmp_path, epochs=4)
    trainer.run()
    log = _lines(tmp_path / "train.txt")
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert log[-1]["bits_x"] < log[0]["bits_x"] - 0.5
    assert "test_bits_x" in _lines(tmp_path / "test.txt")[-1]
    assert os.listdir(tmp_path / "tensorboard")
    model, hparams = runs.load_model(str(tmp_path))
    assert hparams["architecture"]["depth"] == 2
    x, _ = _images(8, seed=2)
    noise = np.zeros(x.shape, np.float32)
    np.testing.assert_allclose(model.log_likelihood(x, noise),
                               trainer.model.log_likelihood(x, noise), rtol=1e-6)


def test_resume_continues_without_reinitialising(tmp_path, monkeypatch):
    first = _trainer(tmp_path, epochs=1)
    first.run()
    its = first.stream.its_per_epoch
    saved = {v.name: v.numpy() for v in first.model.variables}
    second = _trainer(tmp_path, epochs=2)

    def must_not_run(*args, **kwargs):
        raise AssertionError("data-dependent init ran on resume")

    monkeypatch.setattr(second.model, "initialize_from_batch", must_not_run)
    second._initialize()  # pylint: disable=protected-access
    assert int(second.optimizer.iterations) == its
    for variable in second.model.variables:
        np.testing.assert_array_equal(variable.numpy(), saved[variable.name])
    second.run()
    assert int(second.optimizer.iterations) == 2 * its
    assert [r["epoch"] for r in _lines(tmp_path / "train.txt")] == [1, 2]


def test_changed_architecture_in_same_logdir_is_refused(tmp_path):
    _trainer(tmp_path, epochs=1).run()
    hparams = runs.read_hparams(str(tmp_path))
    hparams["architecture"]["depth"] = 3
    runs.write_hparams(str(tmp_path), hparams)
    with pytest.raises(runs.RunDirError, match="different 'architecture'"):
        _trainer(tmp_path, epochs=1)


class NaNAfter(MaximumLikelihood):
    """Maximum likelihood whose loss turns NaN from global step `bad_step` on."""

    def __init__(self, bad_step):
        super().__init__()
        self.bad_step = bad_step
        self.calls = tf.Variable(0, dtype=tf.int64)

    def __call__(self, model, batch, seed):
        loss, stats = super().__call__(model, batch, seed)
        step = self.calls.assign_add(1) - 1
        return loss + tf.where(step >= self.bad_step, np.nan, 0.0), stats


def test_nan_loss_stops_with_the_last_good_state_saved(tmp_path):
    trainer = _trainer(tmp_path, epochs=3, objective=NaNAfter(bad_step=5))
    with pytest.raises(training.NonFiniteLossError, match="step 5"):
        trainer.run()
    assert int(trainer.optimizer.iterations) == 5
    model, _ = runs.load_model(str(tmp_path))
    for ours, saved in zip(trainer.model.variables, model.variables):
        assert np.all(np.isfinite(saved.numpy()))
        np.testing.assert_array_equal(ours.numpy(), saved.numpy())
    assert runs.checkpoint_manager(str(tmp_path)).latest_checkpoint.endswith("ckpt-5")


def test_batches_are_deterministic_and_resumable():
    x, y = _images(100)
    stream = training.BatchStream({"x": x, "y": y}, 16, seed=3,
                                  noise_fn=lambda v, s: tf.random.stateless_uniform(
                                      tf.shape(v), s))
    full = list(stream.dataset(epoch=2))
    assert len(full) == stream.its_per_epoch == 6
    resumed = list(stream.dataset(epoch=2, skip=4))
    for a, b in zip(full[4:], resumed):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["noise"], b["noise"])
    other_epoch = list(stream.dataset(epoch=3))
    assert not np.array_equal(full[0]["y"], other_epoch[0]["y"])


def test_warmup_schedule_is_linear_then_constant():
    schedule = training.WarmupSchedule(0.01, warmup_steps=10)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 4, 9, 50)],
                               [0.001, 0.005, 0.01, 0.01], rtol=1e-6)


@pytest.mark.slow
def test_train_glow_on_fashion_mnist_survives_a_kill(prepared_data_dir, tmp_path):
    """bin/train_glow with the CPU flagfile: killed mid-run, rerun, resumes; bits/dim falls."""
    logdir = tmp_path / "run"
    command = [sys.executable, str(REPO / "bin" / "train_glow"),
               "--flagfile=configs/cpu/fmnist17_mnist/multi.cfg", f"--logdir={logdir}",
               f"--data_dir={prepared_data_dir}", "--subset=2048", "--epochs=3",
               "--checkpoint_secs=3"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    checkpoints = logdir / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (checkpoints.exists() and any(
            name.endswith(".index") for name in os.listdir(checkpoints))):
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = runs.checkpoint_manager(str(logdir)).latest_checkpoint
    assert killed_at is not None
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resumed from {killed_at}" in result.stdout
    log = _lines(logdir / "train.txt")
    assert log[-1]["epoch"] == 3
    assert log[-1]["bits_x"] < log[0]["bits_x"]
