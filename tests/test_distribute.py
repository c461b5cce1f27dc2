"""Training under tf.distribute on two logical CPU devices matches one device; mixed precision."""
import json
import subprocess
import sys

import numpy as np
import pytest

from glow_prior import training
from glow_prior.data import DataConfig
from glow_prior.models.glow import GlowConfig
from glow_prior.objectives import MaximumLikelihood
from glow_prior.priors import PriorConfig
from tests.conftest import REPO

SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from glow_prior import runs, training
from glow_prior.data import DataConfig
from glow_prior.models.glow import GlowConfig
from glow_prior.objectives import MaximumLikelihood
from glow_prior.priors import PriorConfig

rng = np.random.default_rng(0)
x = rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
y = rng.integers(0, 2, 64)
prior = PriorConfig(kind="gaussian_mixture", distance=10.0)
architecture = GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=2, width=8,
                          flow_coupling=1, scale_offset=0.1)
result = {}
for name, strategy, devices in (("single", "default", ()),
                                ("mirrored", "mirrored", ("/cpu:0", "/cpu:1"))):
    config = training.TrainConfig(n_batch_train=16, n_batch_init=32, epochs=2,
                                  epochs_warmup=1, lr=0.003, strategy=strategy,
                                  devices=devices, epochs_full_sample=100)
    hparams = training.run_hparams("glow", architecture, prior, DataConfig("toy"), config)
    trainer = training.Trainer(hparams, sys.argv[1] + "/" + name,
                               training.TrainData(x, y, prior.assign(x, y)), config,
                               MaximumLikelihood(), show_progress=False)
    record = trainer.run()
    result[name] = {"replicas": trainer.strategy.num_replicas_in_sync,
                    "loss": record["loss"],
                    "weights": [v.numpy().ravel().tolist() for v in trainer.model.trainable_variables]}
print(json.dumps(result))
"""


def test_two_logical_devices_train_like_one(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert runs["single"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
    # Same global batches, noise and init: the split only changes float summation order.
    assert runs["mirrored"]["loss"] == pytest.approx(runs["single"]["loss"], rel=1e-4)
    for ours, theirs in zip(runs["mirrored"]["weights"], runs["single"]["weights"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_training_step(tmp_path, precision):
    x = np.random.default_rng(1).integers(0, 256, (32, 8, 8, 1), dtype=np.uint8)
    architecture = GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1, width=8,
                              flow_coupling=1)
    records = {}
    for name in ("none", precision):
        config = training.TrainConfig(n_batch_train=16, n_batch_init=32, epochs=1,
                                      epochs_warmup=1, mixed_precision=name,
                                      epochs_full_sample=100)
        hparams = training.run_hparams("glow", architecture, PriorConfig(),
                                       DataConfig("toy"), config)
        trainer = training.Trainer(hparams, str(tmp_path / name), training.TrainData(x),
                                   config, MaximumLikelihood(), show_progress=False)
        records[name] = trainer.run()
    training.set_mixed_precision("none")
    # Low-precision convolutions move the loss by far less than a hundredth of a bit/dim.
    assert records[precision]["loss"] == pytest.approx(records["none"]["loss"], abs=0.02)
