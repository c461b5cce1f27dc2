"""Run directories: what every binary reads and writes.

    LOGDIR/hparams.json       model kind, architecture, prior, data and training settings
    LOGDIR/checkpoints/       tf.train.CheckpointManager checkpoints (model, optimizer,
                              step, Polyak averages)
    LOGDIR/train.txt, test.txt  one JSON line per logged epoch (OpenAI's ResultLogger style)
    LOGDIR/tensorboard/       TensorBoard summaries

hparams.json is written atomically (temporary file + rename). TensorFlow writes a
checkpoint's data and index files before it atomically rewrites the `checkpoint` state
file, so a run killed while saving still resumes from its previous checkpoint.
"""
import json
import os

import tensorflow as tf

from glow_prior.config_io import config_from_dict, write_json_atomic
from glow_prior.models.glow import GlowConfig, build_glow
from glow_prior.models.realnvp import RealNVPConfig, build_realnvp
from glow_prior.models.tabular import TabularFlowConfig, build_tabular
from glow_prior.models.vae import VAE, VAEConfig
from glow_prior.priors import PriorConfig

HPARAMS_FILE = "hparams.json"
CHECKPOINT_DIR = "checkpoints"


class RunDirError(RuntimeError):
    """A run directory is missing, incomplete or does not match the requested model."""


def write_hparams(logdir, hparams):
    write_json_atomic(os.path.join(logdir, HPARAMS_FILE), hparams)


def read_hparams(logdir):
    path = os.path.join(logdir, HPARAMS_FILE)
    if not os.path.exists(path):
        raise RunDirError(f"{logdir} is not a glow_prior run directory: {HPARAMS_FILE} "
                          "is missing (train a model or import a checkpoint into it first)")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise RunDirError(f"{path} is not valid JSON: {error}") from error


class PolyakAverage(tf.Module):
    """Exponential moving averages of the trainable variables (OpenAI's optim.polyak).

    shadow <- decay * shadow + (1 - decay) * value after every optimizer step. OpenAI
    evaluates and saves the raw weights; the averages are kept in checkpoints and can be
    swapped in for evaluation (`use_polyak`).
    """

    def __init__(self, variables):
        super().__init__(name="polyak")
        self._targets = list(variables)
        # Every replica computes the same update from synchronised weights.
        self.shadows = [tf.Variable(v, trainable=False, name=v.name.split(":")[0] + "/ema",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                        for v in self._targets]

    def update(self, decay):
        for shadow, value in zip(self.shadows, self._targets):
            shadow.assign(decay * shadow + (1.0 - decay) * value)

    def copy_from_model(self):
        for shadow, value in zip(self.shadows, self._targets):
            shadow.assign(value)

    def copy_to_model(self):
        for shadow, value in zip(self.shadows, self._targets):
            value.assign(shadow)


def checkpoint_manager(logdir, max_to_keep=3, **objects):
    checkpoint = tf.train.Checkpoint(**objects)
    return tf.train.CheckpointManager(checkpoint, os.path.join(logdir, CHECKPOINT_DIR),
                                      max_to_keep=max_to_keep)


def restore_latest(manager, what="run"):
    """Restores the newest checkpoint; returns its path or None when there is none."""
    path = manager.latest_checkpoint
    if path is None:
        return None
    try:
        manager.checkpoint.restore(path).expect_partial()
    except (tf.errors.DataLossError, tf.errors.NotFoundError, ValueError) as error:
        raise RunDirError(f"cannot restore {what} checkpoint {path}: {error}") from error
    return path


def _build_glow(hparams, prior):
    return build_glow(config_from_dict(GlowConfig, hparams["architecture"]), prior.build)


def _build_tabular(hparams, prior):
    return build_tabular(config_from_dict(TabularFlowConfig, hparams["architecture"]),
                         prior.build)


def _build_vae(hparams, prior):
    config = config_from_dict(VAEConfig, hparams["architecture"])
    return VAE(config, prior.build(config.latent_dim))


def _build_realnvp(hparams, prior):
    return build_realnvp(config_from_dict(RealNVPConfig, hparams["architecture"]),
                         prior.build)


MODEL_BUILDERS = {"glow": _build_glow, "realnvp": _build_realnvp, "tabular": _build_tabular,
                  "vae": _build_vae}


def build_model(hparams):
    """The model an hparams dict describes (untrained)."""
    kind = hparams.get("model")
    if kind not in MODEL_BUILDERS:
        raise RunDirError(f"unknown model kind '{kind}'; known: {sorted(MODEL_BUILDERS)}")
    prior = config_from_dict(PriorConfig, hparams.get("prior", {}))
    return MODEL_BUILDERS[kind](hparams, prior)


def load_model(logdir, use_polyak=False):
    """(model, hparams) with the newest checkpoint of `logdir` restored."""
    hparams = read_hparams(logdir)
    model = build_model(hparams)
    objects = {"model": model}
    polyak = PolyakAverage(model.trainable_variables) if use_polyak else None
    if polyak is not None:
        objects["polyak"] = polyak
    if restore_latest(checkpoint_manager(logdir, **objects), logdir) is None:
        raise RunDirError(f"{logdir} has no checkpoint in {CHECKPOINT_DIR}/")
    if polyak is not None:
        polyak.copy_to_model()
    return model, hparams
