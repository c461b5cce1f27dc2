"""TensorBoard summaries of a training run, and the training-curve figure read back from them.

A run's `tensorboard/` folder holds:

* train/loss, train/bits_per_dim, train/learning_rate, train/grad_norm, train/images_per_s:
  every `--summary_steps` optimizer steps, the first step and each epoch's last (x axis:
  the global step);
* test/bits_per_dim, test/log_likelihood: at every test evaluation (x axis: the step);
* the HParams plugin's record of every setting of the run (hparams.json's, flattened) and
  its metrics train/bits_per_dim and test/bits_per_dim, so runs compare in HParams' table;
* samples: a grid of samples at `--epochs_full_sample` epochs (x axis: the epoch).

`training_curve` draws train and test bits/dim against the step from those events
(training_curve.png in the run directory).
"""
import os

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api as hparams_api

from glow_prior.reports import plots

SUMMARY_DIR = "tensorboard"
TRAIN_SCALARS = {"loss": "loss", "bits_x": "bits_per_dim", "learning_rate": "learning_rate",
                 "grad_norm": "grad_norm", "images_per_s": "images_per_s"}


def _hparam_value(value):
    """A value the HParams plugin accepts (bool, int, float, str)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def run_hparams(spec):
    """{flag name: value} of every setting of a RunSpec, for the HParams plugin."""
    return {key: _hparam_value(value) for key, (_, _, value) in spec.settings().items()}


class Summaries:
    """The summary writer of one training process (a no-op one off the chief)."""

    def __init__(self, directory, spec, run_name, active=True, every=20):
        self.every = max(1, int(every))
        self.writer = tf.summary.create_file_writer(directory) if active \
            else tf.summary.create_noop_writer()
        if active:
            with self.writer.as_default():
                hparams_api.hparams(run_hparams(spec), trial_id=run_name)

    def due(self, step, last_of_epoch=False):
        """Whether step `step` (1-based) is summarised: every `every` steps, and the first
        step and each epoch's last, so even a run of a few steps draws a curve."""
        return step == 1 or last_of_epoch or step % self.every == 0

    def train(self, step, values):
        """Per-step training scalars (keys of TRAIN_SCALARS present in `values`)."""
        with self.writer.as_default():
            for key, name in TRAIN_SCALARS.items():
                if key in values:
                    tf.summary.scalar(f"train/{name}", float(values[key]), step=step)

    def test(self, step, record):
        """Writes a test evaluation's test/ scalars at `step`."""
        with self.writer.as_default():
            tf.summary.scalar("test/bits_per_dim", record["test_bits_x"], step=step)
            tf.summary.scalar("test/log_likelihood", record["test_log_likelihood"], step=step)

    def image(self, name, grid, step):
        """Writes an image (a sample grid) at `step`."""
        with self.writer.as_default():
            tf.summary.image(name, grid[None], step=step)

    def flush(self):
        """Writes pending events to disk."""
        self.writer.flush()


def read_scalars(directory):
    """{tag: (steps, values)} of every scalar in the event files of `directory`; a step
    logged twice (a resumed run replays steps after its last checkpoint) keeps its last
    value."""
    accumulator = event_accumulator.EventAccumulator(
        directory, size_guidance={event_accumulator.SCALARS: 0,
                                  event_accumulator.TENSORS: 0})
    accumulator.Reload()
    scalars = {}
    for tag in accumulator.Tags().get("tensors", []):
        events = accumulator.Tensors(tag)
        values = {}
        for event in events:
            array = tf.make_ndarray(event.tensor_proto)
            if array.ndim == 0:
                values[event.step] = float(array)
        if values:
            steps = np.array(sorted(values))
            scalars[tag] = (steps, np.array([values[s] for s in steps]))
    return scalars


def training_curve(run_path, title=""):
    """training_curve.png in the run directory: train (every summary) and test bits/dim
    against the step; returns its path, or None before any summary was written."""
    directory = os.path.join(run_path, SUMMARY_DIR)
    if not os.path.isdir(directory):
        return None
    scalars = read_scalars(directory)
    series = {label: scalars[tag] for label, tag in (("train", "train/bits_per_dim"),
                                                     ("test", "test/bits_per_dim"))
              if tag in scalars}
    if not series:
        return None
    return plots.curves(series, os.path.join(run_path, "training_curve.png"),
                        "step", "bits/dim", title)
