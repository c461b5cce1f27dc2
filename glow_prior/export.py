"""SavedModel export of any trained model (Glow, RealNVP, VAE, tabular flow).

Signatures (all with explicit input signatures and any batch size):

* log_prob(images): uint8 images [N, H, W, C] (or float32 vectors [N, D] for tabular
  models) -> {log_likelihood [N] nats, bits_per_dim [N]}; image flows see x on its bin's
  lower edge (no dequantisation noise; `bin/score --dequantization=none`), VAEs use their
  importance-sampled estimate with a fixed seed.
* log_prob_float(images): float32 pixel values in [0, 256); image flows read them as
  already dequantised, x_in = images / 256 - 0.5 (e.g. x + 256 u for your own noise u;
  with n_bits_x < 8, pass the reduced image in 8-bit units, floor(x / 2^(8-n)) 2^(8-n),
  plus 256 u with u in [0, 1/2^n)); VAEs round them to integers. Not exported for tabular
  models (their log_prob takes floats).
* log_prob_per_component(images) -> {log_likelihood [N, K]}: one column per prior
  component used as the whole prior (mixture priors only).
* statistics(images) -> the per-example statistics OOD scores are computed from
  (glow_prior.models.base): log_likelihood; flows: log_det, log_prior, latent_norm, and
  level_k (multi-scale flows with a standard prior); VAEs: elbo, reconstruction, kl;
  mixture priors: component_log_likelihood [N, K]. Inputs as for log_prob.
* encode(images) -> {latent [N, D]} (VAEs: posterior means); decode(latent) -> {images};
* sample(count, seed, temperature) -> {samples}: `count` samples drawn with the stateless
  `seed` (int64 [2]) at `temperature`.

The traced functions are plain TensorFlow graphs: a process that imports only tensorflow
loads them with tf.saved_model.load(dir) and calls loaded.signatures[name](...).
"""
import json
import math
import os

import tensorflow as tf

from glow_prior.models.base import COMPONENTS, IMAGES
from glow_prior.objectives import bits_per_dim

# TF Serving reads non-TensorFlow files next to the graph from here.
EXTRA_DIR = "assets.extra"


def _input_spec(model):
    if model.supports(IMAGES):
        return tf.TensorSpec([None, *model.event_shape], tf.uint8, name="images")
    return tf.TensorSpec([None, *model.event_shape], tf.float32, name="vectors")


class ExportModule(tf.Module):
    """Wraps a model with the exported signatures."""

    def __init__(self, model, seed=0):
        super().__init__(name="glow_prior_export")
        self.model = model
        # Flows of images score without noise; the VAE's importance sampling uses `seed`.
        self._seed = None if model.dequantized else tf.constant([seed, 0], tf.int64)
        spec = _input_spec(model)
        images = model.supports(IMAGES)
        self.log_prob = tf.function(self._log_prob, input_signature=[spec])
        self.statistics = tf.function(self._statistics, input_signature=[spec])
        self.encode = tf.function(self._encode, input_signature=[spec])
        self.decode = tf.function(self._decode, input_signature=[
            tf.TensorSpec([None, model.prior.latent_size], tf.float32, name="latent")])
        self.sample = tf.function(self._sample, input_signature=[
            tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([2], tf.int64, name="seed"),
            tf.TensorSpec([], tf.float32, name="temperature")])
        if images:
            self.log_prob_float = tf.function(self._log_prob_float, input_signature=[
                tf.TensorSpec([None, *model.event_shape], tf.float32, name="images")])
        if model.supports(COMPONENTS):
            self.log_prob_per_component = tf.function(self._per_component,
                                                      input_signature=[spec])

    def _result(self, log_likelihood):
        return {"log_likelihood": log_likelihood,
                "bits_per_dim": bits_per_dim(log_likelihood, self.model.num_dims)}

    def _log_prob(self, images):
        return self._result(self.model.log_prob(images, seed=self._seed))

    def _statistics(self, images):
        return self.model.statistics(images, seed=self._seed)

    def _log_prob_float(self, images):
        if self.model.dequantized:
            z, log_det = self.model.flow.forward_and_log_det(images / 256.0 - 0.5)
            log_likelihood = (self.model.prior.log_prob(z) + log_det
                              - self.model.discretization_nats)
            return self._result(log_likelihood)
        rounded = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)
        return self._result(self.model.log_prob(rounded, seed=self._seed))

    def _per_component(self, images):
        return {"log_likelihood": self.model.log_prob_per_component(images, seed=self._seed)}

    def _encode(self, images):
        return {"latent": self.model.encode(images)}

    def _decode(self, latent):
        return {"images": self.model.decode(latent)}

    def _sample(self, count, seed, temperature):
        return {"samples": self.model.sample(count, seed=seed, temperature=temperature)}

    def signatures(self):
        names = ["log_prob", "log_prob_float", "log_prob_per_component", "statistics",
                 "encode", "decode", "sample"]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}


def export(model, spec, export_dir, seed=0):
    """Writes the SavedModel (and the run's hparams.json under assets.extra/); returns the
    signature names."""
    module = ExportModule(model, seed)
    signatures = module.signatures()
    tf.saved_model.save(module, export_dir, signatures=signatures)
    extra = os.path.join(export_dir, EXTRA_DIR)
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, "hparams.json"), "w") as f:
        json.dump({**spec.to_dict(), "signatures": sorted(signatures),
                   "num_dims": model.num_dims,
                   "bits_per_dim_denominator": model.num_dims * math.log(2.0)}, f, indent=2,
                  sort_keys=True)
    return sorted(signatures)
