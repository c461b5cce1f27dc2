"""tf.distribute: two logical CPU devices and two worker processes train like one device;
mixed precision."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.runs.train import RunTrainer
from glow_prior.training.batches import TrainData
from glow_prior.config import DataConfig, GlowConfig, PriorConfig, RunConfig, RunSpec, TrainConfig
from glow_prior.training.objectives import MaximumLikelihood
from glow_prior.runs.rundir import RunDir
from tests.conftest import REPO

# Trains a tiny Glow with a mixture prior on fixed toy data and prints, as JSON: the
# post-init actnorm parameters, the last epoch's record and the trained weights.
# argv: logdir, strategy, epochs [, "checkpointing" for --gradient_checkpointing]
SCRIPT = r"""
import json, sys
import tensorflow as tf
strategy_name, epochs = sys.argv[2], int(sys.argv[3])
if strategy_name == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from glow_prior.training import distribute
strategy = distribute.make_strategy(strategy_name, ["/cpu:0", "/cpu:1"]
                                    if strategy_name == "mirrored" else None)
import numpy as np
from glow_prior.runs.train import RunTrainer
from glow_prior.training.batches import TrainData
from glow_prior.config import DataConfig, GlowConfig, PriorConfig, RunConfig, RunSpec, TrainConfig
from glow_prior.training.objectives import MaximumLikelihood
from glow_prior.data.components import assign_components
from glow_prior.runs.rundir import RunDir

rng = np.random.default_rng(0)
x = rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
y = rng.integers(0, 2, 64)
prior = PriorConfig(kind="gaussian_mixture", distance=10.0)
spec = RunSpec(model="glow", architecture=GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=2,
                                                     width=8, flow_coupling=1, scale_offset=0.1),
               prior=prior, data=DataConfig(),
               training=TrainConfig(n_batch_train=16, n_batch_init=32, epochs=epochs,
                                    epochs_warmup=1, lr=0.003, epochs_full_sample=100,
                                    strategy=strategy_name,
                                    gradient_checkpointing=sys.argv[4:] == ["checkpointing"]))
run = RunDir(sys.argv[1])
trainer = RunTrainer(spec, run, TrainData(x, y, assign_components(prior, x, y)),
                           RunConfig(logdir=sys.argv[1]), MaximumLikelihood(), strategy,
                           show_progress=False)
trainer._initialize()
actnorm = trainer.model.flow.levels[0].steps[1].steps[0].layer
init = {"b": actnorm.b.numpy().ravel().tolist(), "logs": actnorm.logs.numpy().ravel().tolist()}
record = trainer.run()
trainer.close()
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "chief": trainer.chief,
                  "init": init, "loss": record["loss"], "step": trainer.global_step(),
                  "weights": [v.numpy().ravel().tolist()
                              for v in trainer.model.trainable_variables]}))
"""


def _run_script(logdir, strategy, epochs, env=None, extra=()):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(logdir), strategy, str(epochs),
                             *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))


def _result(process, timeout=600):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _assert_same_training(ours, reference):
    # Same global batches, noise and init; the split only changes float summation order.
    assert ours["loss"] == pytest.approx(reference["loss"], rel=1e-4)
    for mine, theirs in zip(ours["weights"], reference["weights"]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_two_logical_devices_train_like_one(tmp_path):
    single = _run_script(tmp_path / "single", "default", 2)
    mirrored = _run_script(tmp_path / "mirrored", "mirrored", 2)
    single, mirrored = _result(single), _result(mirrored)
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    _assert_same_training(mirrored, single)


@pytest.mark.slow
def test_gradient_checkpointing_trains_like_standard_backprop_across_devices(tmp_path):
    """A tiny Glow with a mixture prior trained for 2 epochs on two logical devices with
    --gradient_checkpointing ends where standard backprop on one device does (the gradients
    differ by the inverse's rounding, ~1e-6 relative, inside _assert_same_training's
    tolerances for the devices' summation order)."""
    single = _run_script(tmp_path / "single", "default", 2)
    checkpointed = _run_script(tmp_path / "checkpointed", "mirrored", 2,
                               extra=["checkpointing"])
    single, checkpointed = _result(single), _result(checkpointed)
    assert checkpointed["replicas"] == 2
    _assert_same_training(checkpointed, single)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _workers(logdir, epochs):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    return [_run_script(logdir, "multi_worker", epochs, env={"TF_CONFIG": json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}})}) for index in (0, 1)]


@pytest.mark.slow
def test_two_worker_processes_train_checkpoint_and_resume_like_one(tmp_path):
    """MultiWorkerMirroredStrategy over two processes on localhost (TF_CONFIG): the same
    data-dependent init on both workers, the same loss and weights as one process on the
    same global batch, and a resumed second epoch equal to an uninterrupted one."""
    single = _result(_run_script(tmp_path / "single", "default", 2))
    first = [_result(p) for p in _workers(tmp_path / "multi", 1)]
    assert [w["chief"] for w in first] == [True, False]
    assert all(w["replicas"] == 2 for w in first)
    for worker in first:
        np.testing.assert_allclose(worker["init"]["b"], single["init"]["b"], atol=1e-5)
        np.testing.assert_allclose(worker["init"]["logs"], single["init"]["logs"], atol=1e-5)
    np.testing.assert_array_equal(first[0]["weights"][0], first[1]["weights"][0])
    assert os.listdir(tmp_path / "multi" / "checkpoints")  # the chief wrote the run dir
    resumed = [_result(p) for p in _workers(tmp_path / "multi", 2)]
    assert resumed[0]["step"] == single["step"] == 2 * first[0]["step"]
    for worker in resumed:
        _assert_same_training(worker, single)
    records = [json.loads(line) for line in open(tmp_path / "multi" / "train.txt")]
    assert [r["epoch"] for r in records] == [1, 2]  # written once, by the chief


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_training_step(tmp_path, precision):
    x = np.random.default_rng(1).integers(0, 256, (32, 8, 8, 1), dtype=np.uint8)
    architecture = GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1, width=8,
                              flow_coupling=1)
    records = {}
    for name in ("none", precision):
        spec = RunSpec(model="glow", architecture=architecture, prior=PriorConfig(),
                       data=DataConfig(), training=TrainConfig(
                           n_batch_train=16, n_batch_init=32, epochs=1, epochs_warmup=1,
                           mixed_precision=name, epochs_full_sample=100))
        logdir = str(tmp_path / name)
        trainer = RunTrainer(spec, RunDir(logdir), TrainData(x), RunConfig(logdir=logdir),
                                   MaximumLikelihood(), tf.distribute.get_strategy(),
                                   show_progress=False)
        assert getattr(trainer.model.context.compute_dtype, "name", "none") == name
        records[name] = trainer.run()
    # Low-precision convolutions move the loss by far less than a hundredth of a bit/dim.
    assert records[precision]["loss"] == pytest.approx(records["none"]["loss"], abs=0.02)
