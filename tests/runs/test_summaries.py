"""TensorBoard: what a short run writes, read back with TensorBoard's own EventAccumulator."""
import json
import os

import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import glow_prior
from glow_prior.config import GlowConfig, TrainConfig
from glow_prior.reports.plots import curve_scale
from glow_prior.runs.summaries import SUMMARY_DIR, read_scalars
from tests.conftest import TINY_TRAINING


def _accumulator(run):
    accumulator = event_accumulator.EventAccumulator(
        os.path.join(run, SUMMARY_DIR), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def test_a_one_epoch_run_has_per_step_train_and_test_scalars_and_its_hparams(tmp_path):
    """A tiny Glow: 1 epoch of 4 steps (128 images, batch 32), --summary_steps=20."""
    run = str(tmp_path / "glow")
    images = np.random.default_rng(0).integers(0, 256, (128, 8, 8, 1)).astype(np.uint8)
    glow_prior.train(GlowConfig(n_levels=2, depth=1, width=8, flow_coupling=1), run, images,
                     test_data=images[:32], training=TrainConfig(**TINY_TRAINING),
                     name="toy", show_progress=False)
    scalars = read_scalars(os.path.join(run, SUMMARY_DIR))
    for name in ("loss", "bits_per_dim", "learning_rate", "grad_norm", "images_per_s"):
        steps, values = scalars[f"train/{name}"]
        assert list(steps) == [1, 4], name  # the first step and the epoch's last
    test_steps, test_bits = scalars["test/bits_per_dim"]
    assert list(test_steps) == [4] and "test/log_likelihood" in scalars
    with open(os.path.join(run, "test.txt")) as f:
        last = json.loads(f.read().splitlines()[-1])
    assert abs(test_bits[-1] - last["test_bits_x"]) < 1e-4
    # The HParams plugin's session record holds the run's settings under OpenAI's names.
    accumulator = _accumulator(run)
    content = accumulator.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["depth"].number_value == 1
    assert start.hparams["width"].number_value == 8
    assert start.hparams["name"].string_value == "toy"
    assert len(start.hparams["fingerprint"].string_value) == 16
    assert os.path.exists(os.path.join(run, "training_curve.png"))


def test_training_curves_spanning_a_factor_of_ten_get_a_log_axis():
    # A flow's first steps cost tens of times its final bits/dim (160 -> 5.6 here).
    assert curve_scale([np.array([160.0, 20.0, 8.0]), np.array([5.6])]) == "log"
    assert curve_scale([np.array([4.2, 3.9]), np.array([3.5])]) == "linear"
    assert curve_scale([np.array([-2.0, 30.0])]) == "linear"  # not all positive
