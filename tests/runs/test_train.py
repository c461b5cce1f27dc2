"""The training loop: learning, run directories, resume, refused reruns, NaN handling."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.runs.train import RunTrainer, train_model
from glow_prior.training import loop
from glow_prior.models.batch import Batch
from glow_prior.training.batches import BatchStream, TrainData, perturb_pixels
from glow_prior.config import DataConfig, GlowConfig, PriorConfig, RunConfig, RunSpec, TrainConfig
from glow_prior.data import ImageSet
from glow_prior.errors import CheckpointError, InputError, NonFiniteLossError, RunDirError
from glow_prior.runs.load import load_model
from glow_prior.training.objectives import MaximumLikelihood
from glow_prior.training.optim import WarmupSchedule
from glow_prior.data.components import assign_components
from glow_prior.runs.rundir import RunDir
from tests.conftest import REPO

ARCHITECTURE = GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=2, width=8,
                          flow_coupling=1, scale_offset=0.1, multiscale=False,
                          three_axis_1x1=True)
TRAINING = TrainConfig(n_batch_train=32, n_batch_init=64, epochs=2, epochs_warmup=1,
                       epochs_full_valid=1, epochs_full_sample=100, lr=0.005)


def images(n=128, seed=0):
    """Structured toy images: a bright square at a random place on a dark background."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 30, (n, 8, 8, 1))
    for image, (row, col) in zip(x, rng.integers(0, 5, (n, 2))):
        image[row:row + 3, col:col + 3] = rng.integers(200, 256)
    return x.astype(np.uint8), rng.integers(0, 2, n)


def make_spec(prior=PriorConfig(), data=DataConfig(labels=(0, 1)), architecture=ARCHITECTURE,
              **training_changes):
    return RunSpec(model="glow", architecture=architecture, prior=prior, data=data,
                   training=TRAINING.replace(**training_changes))


def make_trainer(logdir, spec, objective=None, show_progress=False, **run_changes):
    x, y = images()
    test = ImageSet(*images(64, seed=1), "toy", "test")
    run = RunDir(logdir)
    return RunTrainer(spec, run, TrainData(x, y, assign_components(spec.prior, x, y)),
                            RunConfig(logdir=str(logdir)).replace(**run_changes),
                            objective or MaximumLikelihood(), tf.distribute.get_strategy(),
                            test_data=test, show_progress=show_progress)


def lines(path):
    return [json.loads(line) for line in open(path)]


def test_training_learns_and_leaves_a_loadable_run_dir(tmp_path):
    trainer = make_trainer(tmp_path, make_spec(epochs=4))
    trainer.run()
    log = lines(tmp_path / "train.txt")
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert log[-1]["bits_x"] < log[0]["bits_x"] - 0.5
    assert "test_bits_x" in lines(tmp_path / "test.txt")[-1]
    assert os.listdir(tmp_path / "tensorboard")
    model, spec = load_model(str(tmp_path))
    assert spec.architecture == ARCHITECTURE and spec.data.labels == (0, 1)
    x, _ = images(8, seed=2)
    noise = np.zeros(x.shape, np.float32)
    np.testing.assert_allclose(model.log_likelihood(x, noise),
                               trainer.model.log_likelihood(x, noise), rtol=1e-6)


@pytest.mark.slow
def test_resume_continues_without_reinitialising(tmp_path, monkeypatch):
    first = make_trainer(tmp_path, make_spec(epochs=1))
    first.run()
    its = first.stream.its_per_epoch
    saved = {v.name: v.numpy() for v in first.model.variables}
    second = make_trainer(tmp_path, make_spec(epochs=2))  # epochs may change on resume

    def must_not_run(*args, **kwargs):
        raise AssertionError("data-dependent init ran on resume")

    monkeypatch.setattr(second.model, "initialize", must_not_run)
    second._initialize()  # pylint: disable=protected-access
    assert second.global_step() == its
    for variable in second.model.variables:
        np.testing.assert_array_equal(variable.numpy(), saved[variable.name])
    second.run()
    assert second.global_step() == 2 * its
    assert [r["epoch"] for r in lines(tmp_path / "train.txt")] == [1, 2]


def test_a_finished_epoch_is_checkpointed_only_after_its_log_line(tmp_path, monkeypatch):
    """With mid-epoch checkpoints after every step, the epoch's last step is not saved as a
    mid-epoch state: a kill between that save and the log line would lose the line."""
    trainer = make_trainer(tmp_path, make_spec(epochs=2, checkpoint_secs=0.0))
    its, saves = trainer.stream.its_per_epoch, []
    save = trainer.checkpoints.save

    def recording_save(state, step):
        logged = len(lines(tmp_path / "train.txt")) if os.path.exists(tmp_path / "train.txt") \
            else 0
        saves.append((trainer.global_step(), bool(state), logged))
        return save(state, step)

    monkeypatch.setattr(trainer.checkpoints, "save", recording_save)
    trainer.run()
    assert [s for s in saves if s[1]] == [(step, True, step // its) for step in range(1, 2 * its)
                                          if step % its]
    assert [s for s in saves if not s[1] and s[0]] == [(its, False, 1), (2 * its, False, 2)]


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A run directory of one epoch of make_spec's Glow (copied by the tests that need one
    to resume from)."""
    logdir = tmp_path_factory.mktemp("one_epoch") / "run"
    make_trainer(logdir, make_spec(epochs=1)).run()
    return logdir


@pytest.mark.parametrize("changed,flag", [
    (dict(data=DataConfig(labels=(0, 2))), "--labels: (0, 1) in the run directory, (0, 2) now"),
    (dict(data=DataConfig(labels=(0, 1), subset=64)), "--subset: 0 in the run directory, 64"),
    (dict(data=DataConfig(dataset="mnist", labels=(0, 1))), "--dataset: 'fashion_mnist'"),
    (dict(architecture=ARCHITECTURE.replace(n_bits_x=5)), "--n_bits_x: 8 in the run"),
    (dict(prior=PriorConfig(kind="gaussian_mixture", distance=10.0)), "--prior: 'standard'"),
    (dict(lr=0.01), "--lr: 0.005 in the run directory, 0.01 now"),
])
def test_rerun_with_other_settings_is_refused_naming_them(one_epoch_run, tmp_path, changed,
                                                        flag):
    shutil.copytree(one_epoch_run, tmp_path / "run")
    with pytest.raises(InputError, match="different experiment") as error:
        make_trainer(tmp_path / "run", make_spec(**changed))
    assert flag in str(error.value)


def test_a_change_listed_in_allow_changes_is_recorded(tmp_path):
    make_trainer(tmp_path, make_spec(epochs=1)).run()
    trainer = make_trainer(tmp_path, make_spec(lr=0.002), allow_changes=("lr",))
    history = RunDir(tmp_path).read_spec().history
    assert history == ({"step": trainer.stream.its_per_epoch,
                        "changes": {"lr": [0.005, 0.002]}},)
    assert trainer.spec.training.lr == 0.002


def test_data_dependent_init_is_per_model():
    """Two models: initialising one leaves the other's init mode (its own context) off."""
    spec = make_spec()
    from glow_prior.models.registry import build_model  # pylint: disable=import-outside-toplevel
    first, second = build_model(spec), build_model(spec)
    x, _ = images(16)
    with first.context.data_dependent_init():
        assert first.context.initializing and not second.context.initializing
    second.initialize(Batch(x))
    assert second.initialized.numpy() and not first.initialized.numpy()


@pytest.mark.slow
def test_divergence_keeps_a_finite_state_and_resumes_with_a_sane_lr(tmp_path):
    """Issue 11.7: lr 1e6 on resume diverges; the state kept scores finite, and the run
    trains on from it once the lr is back."""
    make_trainer(tmp_path, make_spec(epochs=1)).run()
    with pytest.raises(NonFiniteLossError, match="the update was not applied") as error:
        make_trainer(tmp_path, make_spec(epochs=3, lr=1e6), allow_changes=("lr",)).run()
    assert "--allow_changes=lr" in str(error.value)
    model, _ = load_model(str(tmp_path))
    x, _ = images(32, seed=3)
    assert np.all(np.isfinite(model.log_likelihood(x, np.zeros(x.shape, np.float32))))
    trainer = make_trainer(tmp_path, make_spec(epochs=3), allow_changes=("lr",))
    record = trainer.run()
    assert np.isfinite(record["loss"]) and record["epoch"] == 3


def test_corrupt_checkpoint_is_named_and_an_older_one_can_be_chosen(tmp_path):
    trainer = make_trainer(tmp_path, make_spec(epochs=2))
    trainer.run()
    newest = trainer.manager.latest_checkpoint
    data_file = f"{newest}.data-00000-of-00001"
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)
    with pytest.raises(CheckpointError, match="data-00000-of-00001 of .*corrupt or truncated"):
        make_trainer(tmp_path, make_spec(epochs=3)).run()
    older = os.path.basename(trainer.manager.checkpoints[-2])
    resumed = make_trainer(tmp_path, make_spec(epochs=3), resume_from=older)
    resumed._initialize()  # pylint: disable=protected-access
    assert resumed.global_step() == int(older.split("-")[1])


def test_failed_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, make_spec(epochs=2))
    trainer._initialize()  # pylint: disable=protected-access
    before = trainer.manager.latest_checkpoint

    def disk_full(*args, **kwargs):
        with open(os.path.join(tmp_path, "checkpoints", "ckpt-99.index"), "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer.checkpoints.save_manager, "save", disk_full)
    with pytest.raises(RunDirError, match="No space left on device.*ckpt-0 is intact"):
        trainer.run()
    assert RunDir(tmp_path).checkpoint_manager().latest_checkpoint == before
    load_model(str(tmp_path))


def test_restore_path_matches_weights_by_name(tmp_path):
    source = tmp_path / "source"
    make_trainer(source, make_spec(epochs=1)).run()
    same = make_trainer(tmp_path / "same", make_spec(restore_path=str(source)))
    same._initialize()  # pylint: disable=protected-access
    source_model, _ = load_model(str(source))
    for ours, theirs in zip(same.model.trainable_variables, source_model.trainable_variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    shuffled = make_spec(architecture=ARCHITECTURE.replace(flow_permutation=1),
                         restore_path=str(source))
    other = make_trainer(tmp_path / "other", shuffled)
    with pytest.raises(CheckpointError, match="missing in --restore_path.*invconv/W"):
        other._initialize()  # pylint: disable=protected-access


def test_run_directory_lock_names_the_holder_and_dies_with_it(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from glow_prior.runs.rundir import RunDir; "
         f"RunDir({str(tmp_path)!r}).lock(); print('locked', flush=True); time.sleep(600)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match=f"in use by another training process \\(PID "
                                              f"{holder.pid}\\)"):
            RunDir(tmp_path).lock()
    finally:
        holder.kill()
        holder.wait()
    RunDir(tmp_path).lock().close()  # a killed holder's lock is gone


def test_batches_are_deterministic_and_resumable():
    x, y = images(100)
    stream = BatchStream({"x": x, "y": y}, 16, seed=3,
                         noise_fn=lambda v, s: tf.random.stateless_uniform(tf.shape(v), s))
    full = list(stream.dataset(epoch=2))
    assert len(full) == stream.its_per_epoch == 6
    resumed = list(stream.dataset(epoch=2, skip=4))
    for a, b in zip(full[4:], resumed):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["noise"], b["noise"])
    other_epoch = list(stream.dataset(epoch=3))
    assert not np.array_equal(full[0]["y"], other_epoch[0]["y"])


def test_pixel_perturbation_replaces_the_given_fraction():
    x = np.full((64, 16, 16, 1), 7, np.uint8)
    perturbed = perturb_pixels(tf.constant(x), 0.2, tf.constant([1, 2], tf.int64)).numpy()
    changed = (perturbed != 7).mean()
    # 20% replaced, of which 1/256 by the same value 7: 0.2 * 255/256 expected; the binomial
    # standard deviation over 16384 pixels is 0.003.
    assert abs(changed - 0.2 * 255 / 256) < 0.015
    again = perturb_pixels(tf.constant(x), 0.2, tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_array_equal(perturbed, again)


def test_warmup_schedule_is_linear_then_constant():
    schedule = WarmupSchedule(0.01, warmup_steps=10)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 4, 9, 50)],
                               [0.001, 0.005, 0.01, 0.01], rtol=1e-6)


def test_progress_lines_without_a_terminal(tmp_path, capsys):
    trainer = make_trainer(tmp_path, make_spec(epochs=1), progress_secs=0.0,
                           show_progress=True)
    trainer.run()
    out = capsys.readouterr().out
    assert "progress: epoch 1/1 step 1/4 bits/dim" in out and "img/s left 0:" in out
    assert "epoch 1/1: " in out


def _newest_step(logdir):
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else -1


@pytest.mark.slow
def test_train_glow_killed_repeatedly_ends_like_an_uninterrupted_run(prepared_data_dir,
                                                                     tmp_path):
    """SIGKILL at random moments (mid-epoch and across epoch boundaries), rerun each time:
    weights, optimizer state, Polyak averages and train.txt equal an uninterrupted run."""
    def command(logdir):
        return [sys.executable, "-m", "glow_prior.apps.train_glow",
                "--flagfile=configs/cpu/fmnist17_mnist/multi.cfg", f"--logdir={logdir}",
                f"--data_dir={prepared_data_dir}", "--subset=384", "--epochs=3",
                "--checkpoint_secs=0", "--depth=2", "--width=16"]

    reference = tmp_path / "reference"
    result = subprocess.run(command(reference), cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    killed = tmp_path / "killed"
    rng = np.random.default_rng(0)
    steps_at_kill = []
    for _ in range(5):
        before = _newest_step(killed)
        process = subprocess.Popen(command(killed), cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while _newest_step(killed) <= before and process.poll() is None:
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 3.0))  # somewhere in the steps that follow
        process.kill()
        process.wait()
        steps_at_kill.append(_newest_step(killed))
    result = subprocess.run(command(killed), cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    its = 6  # 384 images in batches of 64
    assert any(step % its for step in steps_at_kill), steps_at_kill  # mid-epoch
    assert len({step // its for step in steps_at_kill}) > 1, steps_at_kill  # across epochs
    final = {p: tf.train.load_checkpoint(tf.train.latest_checkpoint(str(p / "checkpoints")))
             for p in (reference, killed)}
    names = final[reference].get_variable_to_shape_map()
    assert set(names) == set(final[killed].get_variable_to_shape_map())
    for name in names:
        if "epoch_state" in name or "save_counter" in name:
            continue
        np.testing.assert_array_equal(final[killed].get_tensor(name),
                                      final[reference].get_tensor(name), err_msg=name)

    def without_timing(path):
        return [{k: v for k, v in r.items() if k not in loop.TIMING_KEYS}
                for r in lines(path / "train.txt")]

    assert without_timing(killed) == without_timing(reference)
    assert [r["epoch"] for r in lines(killed / "train.txt")] == [1, 2, 3]


def test_validation_keeps_the_best_checkpoint_and_stops_early(tmp_path):
    """With lr 0 nothing improves: a held-out quarter of the 128 toy images is evaluated
    every epoch, the best checkpoint (epoch 1) is kept in checkpoints/best, training stops
    after `early_stopping` evaluations without improvement, and a rerun has nothing to do."""
    spec = make_spec(epochs=20, epochs_full_valid=1, validation_fraction=0.25,
                     early_stopping=2, lr=0.0)
    train, test = ImageSet(*images(), "toy", "train"), ImageSet(*images(64, seed=1), "toy",
                                                                 "test")
    record = train_model(spec, RunDir(tmp_path), RunConfig(logdir=str(tmp_path)), train, test,
                         show_progress=False)
    logged = lines(tmp_path / "train.txt")
    assert [r["epoch"] for r in logged] == [1, 2, 3]  # best at 1, then 2 without improvement
    assert all(r["valid_bits_x"] == logged[0]["valid_bits_x"] for r in logged)
    steps_per_epoch = 96 // TRAINING.n_batch_train  # the stream serves the other 96
    assert record["step"] == 3 * steps_per_epoch
    best = tf.train.latest_checkpoint(str(tmp_path / "checkpoints" / "best"))
    assert best.endswith(f"ckpt-{steps_per_epoch}")
    model, _ = load_model(str(tmp_path), checkpoint="best")
    assert model.run_spec.training.early_stopping == 2
    assert "stopped early after epoch 3" in make_trainer(tmp_path, spec).finished


def test_early_stopping_needs_a_validation_set():
    with pytest.raises(InputError, match="needs a validation set"):
        TrainConfig(early_stopping=3)
