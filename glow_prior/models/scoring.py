"""Scoring arrays with a model in batches: log-likelihoods, statistics, latents.

Log-likelihoods are per example in nats (OpenAI's convention for flows: including
-D log n_bins) and bits/dim = -log-likelihood / (D ln 2). Batches are compiled once per
model and seeded as `batch_seed` says, so the same seed and batch size give the same
numbers. Evaluating a model as an OOD detector is glow_prior.ood.
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf

from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models.base import IMAGES


def bits_per_dim(log_likelihood, num_dims):
    """-log_likelihood / (num_dims ln 2): nats per example -> bits per dimension."""
    return -log_likelihood / (num_dims * math.log(2.0))


@dataclasses.dataclass
class Scores:
    log_likelihood: np.ndarray
    bits_per_dim: np.ndarray


def check_inputs(model, x, y=None, what="inputs"):
    """Raises InputError unless `x` fits the model: a non-empty batch of uint8 images of its
    shape (image models) or float vectors of its size, with labels if it needs them."""
    if np.ndim(x) == 0:
        raise InputError(f"{what} is a single value, not an array of examples")
    if len(x) == 0:
        raise InputError(f"{what}: there are no examples to score")
    if model.supports(IMAGES):
        preprocess.check_uint8_images(x, model.example_shape, what=what)
    elif tuple(np.shape(x)[1:]) != model.example_shape:
        raise InputError(f"{what} have shape {tuple(np.shape(x)[1:])} per example but the "
                         f"model expects {model.example_shape}")
    if model.conditional and y is None:
        raise InputError(f"this model is class-conditional: {what} need labels 'y'")


def batch_seed(model, seed, start, dequantize=True):
    """The seed the batch starting at example `start` is scored with: for flows of images,
    (seed, start) for its dequantisation noise, or None (no noise) without dequantize;
    other models (the VAE's importance sampling, whose draws are the same for every
    example) get (seed, 0) for every batch."""
    if model.dequantized:
        return tf.constant([seed, start], tf.int64) if dequantize else None
    return tf.constant([seed, 0], tf.int64)


def batched(model, method, x, batch_size, seed=0, dequantize=True, y=None):
    """[model.<method>(batch, seed=..., labels=...) as numpy] over x in batches (compiled
    once per model; seeds as in batch_seed). `y` (labels) is needed only by
    class-conditional models."""
    function = model.compiled(method)
    results = []
    for start in range(0, len(x), batch_size):
        kwargs = {"seed": batch_seed(model, seed, start, dequantize)}
        if y is not None:
            kwargs["labels"] = tf.convert_to_tensor(y[start:start + batch_size])
        value = function(tf.convert_to_tensor(x[start:start + batch_size]), **kwargs)
        results.append(tf.nest.map_structure(np.asarray, value))
    return results


def score(model, x, batch_size, seed=0, dequantize=True, y=None):
    """Per-example log-likelihoods of `x` under `model`, in batches (see batch_seed: the
    same seed and batch size give the same numbers)."""
    parts = batched(model, "log_prob", x, batch_size, seed, dequantize, y)
    log_likelihood = np.concatenate(parts) if parts else np.zeros([0], np.float32)
    return Scores(log_likelihood, bits_per_dim(log_likelihood, model.num_dims))


def statistics(model, x, batch_size, seed=0, dequantize=True, y=None):
    """{statistic: numpy array} of model.statistics over `x`, in batches (seeds as in
    score)."""
    parts = batched(model, "statistics", x, batch_size, seed, dequantize, y)
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def encode(model, x, batch_size, seed=0, dequantize=True, y=None):
    """Latent codes of `x` (flows: z, with noise as in score, or at the bins' centres
    without dequantize; VAEs: posterior means), in batches, as numpy."""
    return np.concatenate(batched(model, "encode", x, batch_size, seed, dequantize, y))
