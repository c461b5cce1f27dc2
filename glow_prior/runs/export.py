"""SavedModel export of any trained model (Glow, RealNVP, VAE, tabular flow).

Signatures (explicit input signatures, any batch size including 0, static output shapes
where the model fixes them):

* serving_default(images) = log_prob(images): uint8 images [N, H, W, C] (or float32
  vectors [N, D] for tabular models) -> {log_likelihood [N] nats, bits_per_dim [N]};
  image flows see x on its bin's lower edge (no dequantisation noise; `score
  --dequantization=none`), VAEs use their importance-sampled estimate with a fixed seed.
  TF Serving uses serving_default when a request names no signature;
  `saved_model_cli run --signature_def serving_default` runs it from the command line.
* log_prob_float(images): float32 pixel values in [0, 256); image flows read them as
  already dequantised, x_in = images / 256 - 0.5 (e.g. x + 256 u for your own noise u;
  with n_bits_x < 8, pass the reduced image in 8-bit units, floor(x / 2^(8-n)) 2^(8-n),
  plus 256 u with u in [0, 1/2^n)); VAEs round them to integers. Its domain is [0, 256):
  an image with any value outside it (negative, >= 256, NaN, inf) gets NaN log_likelihood
  and bits_per_dim, and `in_domain` [N] says which images were in it. Not exported for
  tabular models (their log_prob takes floats).
* log_prob_per_component(images) -> {log_likelihood [N, K]}: one column per prior
  component used as the whole prior (mixture priors only).
* statistics(images) -> the per-example statistics OOD scores are computed from
  (glow_prior.models.base); inputs as for log_prob.
* ood_scores(images) -> {score output: [N]}: the OOD scores computable in the graph without
  a fitted state (glow_prior.ood: log_likelihood, max_component, component_confidence,
  level_k, level_llr_k), oriented so that higher = more in-distribution.
* detect(images) (with --detector, for a score computable in the graph: log_likelihood,
  typicality, max_component, component_confidence, level_k, level_llr_k,
  likelihood_ratio with its background model) -> {instance_score [N], is_outlier [N]}: the
  fitted detector's decision (glow_prior.ood.detector), with its dequantisation noise
  drawn from (seed, 0) over the batch, as evaluation draws it for a batch.
* encode(images) -> {latent [N, D]} (VAEs: posterior means); decode(latent) -> {images};
* sample(count, seed, temperature) -> {samples}: `count` samples drawn with the stateless
  `seed` (int64 [2]) at `temperature`.

The export is written into a temporary folder beside --export_dir and renamed into place
when complete (glow_prior.files.staged_directory): a failure leaves nothing behind, an
existing export is replaced only with overwrite, and two exports never mix their files.
The traced functions are plain TensorFlow graphs: a process that imports only tensorflow
loads them with tf.saved_model.load(dir) and calls loaded.signatures[name](...).
"""
import math
import os

import tensorflow as tf

from glow_prior import files
from glow_prior.models.base import COMPONENTS, IMAGES, any_batch
from glow_prior.models.scoring import bits_per_dim
from glow_prior.ood.base import requested

# TF Serving reads non-TensorFlow files next to the graph from here.
EXTRA_DIR = "assets.extra"
# Scores whose values need nothing fitted: always in the ood_scores signature.
UNFITTED_SCORES = ("log_likelihood", "max_component", "component_confidence", "level_k",
                   "level_llr")


def _input_spec(model):
    if model.supports(IMAGES):
        return tf.TensorSpec([None, *model.example_shape], tf.uint8, name="images")
    return tf.TensorSpec([None, *model.example_shape], model.dtype, name="vectors")


def _signature(method, spec):
    """A tf.function of method(inputs) with an input signature, for any batch size
    including 0 (glow_prior.models.base.any_batch, decided at run time)."""
    def function(inputs):
        return any_batch(lambda x, _: method(x), inputs, None, dynamic=True)
    return tf.function(function, input_signature=[spec])


class ExportModule(tf.Module):
    """Wraps a model (and a detector, with its background model) with the signatures."""

    def __init__(self, model, seed=0, detector=None):
        super().__init__(name="glow_prior_export")
        self.model = model
        # Flows of images score without noise; the VAE's importance sampling uses `seed`.
        self._seed = None if model.dequantized else tf.constant([seed, 0], tf.int64)
        spec = _input_spec(model)
        self.log_prob = _signature(self._log_prob, spec)
        self.statistics = _signature(self._statistics, spec)
        self.encode = _signature(self._encode, spec)
        self.decode = _signature(self._decode, tf.TensorSpec(
            [None, model.prior.latent_size], model.float_dtype, name="latent"))
        self.sample = tf.function(self._sample, input_signature=[
            tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([2], tf.int64, name="seed"),
            tf.TensorSpec([], tf.float32, name="temperature")])
        self._unfitted = [s for s in requested(model, ["all"]) if s.name in UNFITTED_SCORES]
        self.ood_scores = _signature(self._ood_scores, spec)
        if model.supports(IMAGES):
            self.log_prob_float = _signature(self._log_prob_float, tf.TensorSpec(
                [None, *model.example_shape], tf.float32, name="images"))
        if model.supports(COMPONENTS):
            self.log_prob_per_component = _signature(self._per_component, spec)
        if detector is not None:
            self.detector_model = detector.background  # tracked, so it is saved
            self._detector = detector
            self.detect = _signature(self._detect, spec)

    def _result(self, log_likelihood):
        return {"log_likelihood": log_likelihood,
                "bits_per_dim": bits_per_dim(log_likelihood, self.model.num_dims)}

    def _log_prob(self, images):
        return self._result(self.model.log_prob(images, seed=self._seed))

    def _statistics(self, images):
        return self.model.statistics(images, seed=self._seed)

    def _log_prob_float(self, images):
        in_domain = tf.reduce_all(tf.math.is_finite(images) & (images >= 0.0)
                                  & (images < 256.0), axis=[1, 2, 3])
        safe = tf.where(in_domain[:, None, None, None], images, tf.zeros_like(images))
        if self.model.dequantized:
            x_in = tf.cast(safe, self.model.float_dtype) / 256.0 - 0.5
            z, log_det = self.model.flow.forward_and_log_det(x_in)
            log_likelihood = (self.model.prior.log_prob(z) + log_det
                              - self.model.discretization_nats)
        else:
            rounded = tf.cast(tf.clip_by_value(tf.round(safe), 0, 255), tf.uint8)
            log_likelihood = self.model.log_prob(rounded, seed=self._seed)
        nan = tf.constant(math.nan, log_likelihood.dtype)
        result = self._result(tf.where(in_domain, log_likelihood, nan))
        result["in_domain"] = in_domain
        return result

    def _per_component(self, images):
        return {"log_likelihood": self.model.log_prob_per_component(images, seed=self._seed)}

    def _ood_scores(self, images):
        stats = self.model.statistics(images, seed=self._seed)
        values = {}
        for scorer in self._unfitted:
            values.update(scorer.graph_values(self.model, stats))
        return values

    def _detect(self, images):
        detector, settings = self._detector, self._detector.settings
        seed = tf.constant([settings["seed"], 0], tf.int64) \
            if settings["dequantize"] or not self.model.dequantized else None
        stats = self.model.statistics(images, seed=seed)
        background = None
        if detector.background is not None:
            background = detector.background.statistics(images, seed=seed)
        score = detector.scorer.graph_values(self.model, stats, background)[settings["output"]]
        instance_score = -tf.cast(score, tf.float64)
        return {"instance_score": instance_score,
                "is_outlier": instance_score > settings["threshold"]}

    def _encode(self, images):
        return {"latent": self.model.encode(images)}

    def _decode(self, latent):
        return {"images": self.model.decode(latent)}

    def _sample(self, count, seed, temperature):
        def draw(n):
            return self.model.sample(n, seed=seed, temperature=temperature)
        # No samples: one, sliced to none (see glow_prior.models.base.any_batch).
        return {"samples": tf.cond(count > 0, lambda: draw(count), lambda: draw(1)[:0])}

    def signatures(self):
        """{signature name: concrete function} of every signature this model has."""
        names = ["log_prob", "log_prob_float", "log_prob_per_component", "statistics",
                 "ood_scores", "detect", "encode", "decode", "sample"]
        found = {name: getattr(self, name) for name in names if hasattr(self, name)}
        found["serving_default"] = self.log_prob
        return found


def export(model, spec, export_dir, seed=0, detector=None, overwrite=False):
    """Writes the SavedModel (and the run's hparams.json under assets.extra/) into
    export_dir, atomically; returns the signature names. detector: a fitted
    glow_prior.ood.Detector of this model whose score can be computed in the graph."""
    if detector is not None:
        detector.scorer.check_in_graph()
        detector.prepare()
    module = ExportModule(model, seed, detector)
    signatures = module.signatures()
    with files.staged_directory(export_dir, overwrite=overwrite) as staging:
        try:
            tf.saved_model.save(module, staging, signatures=signatures)
        except tf.errors.OpError as error:  # TensorFlow's own I/O errors (full disk, ...)
            raise files.FileSystemError(
                f"cannot export the SavedModel to {export_dir}: TensorFlow could not write it "
                f"({error.message.strip().splitlines()[0]}); if the disk is full, free space "
                "and rerun (nothing was left behind)") from error
        files.write_json(os.path.join(staging, EXTRA_DIR, "hparams.json"), {
            **spec.to_dict(), "signatures": sorted(signatures), "num_dims": model.num_dims,
            "bits_per_dim_denominator": model.num_dims * math.log(2.0),
            "detector": None if detector is None else detector.settings})
    return sorted(signatures)
