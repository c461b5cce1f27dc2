"""A flow with a fixed prior: the model object every flow binary works with.

As a TFP distribution (glow_prior.models.base) it is over the user's data: uint8 images or
float vectors. Inside, the flow maps its continuous input x_in to the latent z, and

    p(x_in) = p_Z(flow(x_in)) |det d flow / d x_in|,

`flow_distribution` being that density as `tfd.TransformedDistribution(prior,
tfb.Invert(flow))` over x_in.

* Images (n_bits_x set): x_in = x/n_bins - 0.5 + u in [-0.5, 0.5) (see
  glow_prior.models.quantization) and log-likelihoods are in OpenAI Glow's convention,

      log-likelihood(x) = log p(x_in) - D log(n_bins)   [nats],

* vectors (n_bits_x None: tabular data, embeddings, synthetic points): x_in = x and the
  log-likelihood is the continuous log-density log p(x).

bits/dim = -log-likelihood / (D ln 2). Everything is computed through the flow's one-pass
`forward_and_log_det` (the TransformedDistribution gives the same number, with each
coupling network evaluated twice).

Dequantisation noise u: training draws it per batch; `log_prob` and `statistics` add none
unless given a seed (x on its bin's lower edge, OpenAI's zero-noise objective), else noise
drawn from the seed. `encode(x)` without a seed places x at its bin's centre (u = half a
bin), so that decode(encode(x)) == x despite float rounding (decode floors x_in into its
bin).
"""
import math
import warnings

import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.bijectors.multiscale import MultiScaleFlow
from glow_prior.models import quantization
from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, FLOW_TERMS, IMAGES, LEVELS, DensityModel
from glow_prior.models.batch import Batch
from glow_prior.seeds import seed_pair

tfb = tfp.bijectors
tfd = tfp.distributions


class UninitializedWarning(UserWarning):
    """A flow is trained before OpenAI's data-dependent init (FlowModel.initialize)."""


class FlowInputDistribution(tfd.TransformedDistribution):
    """A flow's density over its continuous input x_in (FlowModel.flow_distribution): a
    TransformedDistribution that refuses integer arrays, which TFP would otherwise cast to
    floats (uint8 pixels 0..255 read as x_in: a density far outside its domain)."""

    def _checked(self, value):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and not tf.as_dtype(dtype).is_floating:
            raise InputError(f"flow_distribution is a density over the flow's continuous "
                             f"input x_in in [-0.5, 0.5) (images: x / n_bins - 0.5 + noise), "
                             f"not over {tf.as_dtype(dtype).name} pixels; score pixels with "
                             "model.log_prob")
        return value

    def _call_log_prob(self, value, name, **kwargs):
        return super()._call_log_prob(self._checked(value), name, **kwargs)

    def _call_prob(self, value, name, **kwargs):
        return super()._call_prob(self._checked(value), name, **kwargs)


class FlowModel(DensityModel):
    """flow: image/vector -> flat latent bijector with `forward_and_log_det(x, labels)`;
    prior: a glow_prior.models.priors.Prior; event_shape: shape of one input example; context:
    the FlowContext the flow's layers were built with; float_dtype: the precision it
    computes in (the weights stay float32 and are cast)."""

    def __init__(self, flow, prior, event_shape, context, n_bits_x=None, classifier=None,
                 float_dtype=tf.float32, name="flow_model"):
        super().__init__(event_shape, n_bits_x is not None, float_dtype, name)
        self.flow = flow
        self.prior = prior
        self.context = context
        if prior.latent_size != self.num_dims:
            raise InputError(f"prior over {prior.latent_size} dims, the data has "
                             f"{self.num_dims}")
        self.n_bits_x = None if n_bits_x is None else int(n_bits_x)
        self.classifier = classifier
        # True once the data-dependent init ran (saved in checkpoints: a resumed run must
        # not re-initialise actnorm over trained weights).
        self.initialized = tf.Variable(False, trainable=False, name="initialized")

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    @property
    def capabilities(self):
        """FLOW_TERMS, and IMAGES, COMPONENTS, LEVELS where they apply."""
        found = {FLOW_TERMS}
        if len(self.example_shape) == 3:
            found.add(IMAGES)
        if self.prior.n_components > 1:
            found.add(COMPONENTS)
        if isinstance(self.flow, MultiScaleFlow) and len(self.flow.latent_shapes) > 1 \
                and self.prior.kind == "standard":
            found.add(LEVELS)
        return frozenset(found)

    @property
    def discrete(self):
        """True for pixel data (dequantised, OpenAI's discrete log-likelihood)."""
        return self.n_bits_x is not None

    @property
    def dequantized(self):
        return self.discrete

    @property
    def conditional(self):
        """True if log-likelihoods need class labels (Glow's ycond)."""
        return bool(getattr(self.flow, "class_conditional", False))

    @property
    def n_classes(self):
        """The classes of a class-conditional model (labels 0..n_classes-1), else None."""
        return getattr(self.flow, "n_classes", None)

    @property
    def flow_distribution(self):
        """p(x_in), the density over the flow's continuous input space, as a TFP
        TransformedDistribution(prior, Invert(flow)).

        Its domain is not pixels: for images x_in = x_n / n_bins - 0.5 + u in [-0.5, 0.5)^D
        (x_n the pixels at n_bits_x, u the dequantisation noise; glow_prior.models.quantization),
        and log p(x_in) - D log n_bins is OpenAI's log-likelihood; for vectors x_in = x.
        It refuses integer input (pixels belong to `log_prob`)."""
        return FlowInputDistribution(self.prior.distribution(self.float_dtype),
                                     tfb.Invert(self.flow))

    @property
    def discretization_nats(self):
        """D log(n_bins): what separates the continuous density from OpenAI's objective."""
        if not self.discrete:
            return 0.0
        return self.num_dims * math.log(quantization.n_bins(self.n_bits_x))

    def needs_initialization(self):
        return not bool(self.initialized.numpy())

    # --------------------------------------------------------------- flat internals
    def flow_input(self, x, noise=None):
        """The flow's continuous input of examples x: pixels quantised and dequantised with
        `noise` (glow_prior.models.quantization), vectors cast."""
        if not self.discrete:
            return tf.cast(x, self.float_dtype)
        return quantization.to_flow_input(x, self.n_bits_x, noise, self.float_dtype)

    def _flow_labels(self, labels):
        """Class labels reach the flow only if it is class-conditional."""
        return labels if self.conditional else None

    def encode_with_log_det(self, x, noise=None, labels=None):
        """(flat latent z [B, D], log|det dz/dx_in| [B]) in one pass."""
        return self.flow.forward_and_log_det(self.flow_input(x, noise),
                                             labels=self._flow_labels(labels))

    def log_likelihood(self, x, noise=None, labels=None):
        """Per-example log-likelihood in nats under the prior's (mixture) density."""
        z, log_det = self.encode_with_log_det(x, noise, labels)
        return self.prior.log_prob(z) + log_det - self.discretization_nats

    def dequantization_noise(self, x, seed):
        """Uniform noise U[0, 1/n_bins) for pixel data (stateless: the seed fixes it)."""
        return quantization.uniform_noise(tf.shape(x), self.n_bits_x, seed_pair(seed),
                                        self.float_dtype)

    def _test_noise(self, x, seed):
        """No noise without a seed (or for vectors), else uniform noise from the seed."""
        if seed is None or not self.discrete:
            return None
        return self.dequantization_noise(x, seed)

    # -------------------------------------------------------------------- training
    def train_log_likelihood(self, batch, seed):
        """What training maximises: the assigned-component log-likelihood when the batch
        has components (mixture-prior training), else the prior's own density; pixel data
        is dequantised with the batch's noise, or noise drawn from `seed`."""
        if tf.executing_eagerly() and self.needs_initialization():
            warnings.warn("this flow has not been initialised from data: call "
                          "model.initialize(x) on training examples before training (OpenAI's "
                          "data-dependent actnorm init), or model.initialized.assign(True) to "
                          "train from the current weights", UninitializedWarning, stacklevel=3)
        noise = batch.noise
        if self.discrete and noise is None:
            noise = self.dequantization_noise(batch.x, seed)
        z, log_det = self.encode_with_log_det(batch.x, noise, batch.labels)
        if batch.components is None:
            log_prior = self.prior.log_prob(z)
        else:
            log_prior = self.prior.component_log_prob(z, batch.components)
        return log_prior + log_det - self.discretization_nats

    def class_logits(self, batch):
        """OpenAI's ycond classifier on the spatial mean of z_top (needs a classifier)."""
        _, z_top, _ = self.flow.encode(self.flow_input(batch.x, batch.noise), batch.labels)
        return self.classifier(tf.reduce_mean(z_top, axis=[1, 2]))

    def initialize(self, x, labels=None, seed=0):
        """OpenAI's data-dependent init (eager): every actnorm layer sets its scale and bias
        so that its output over these training examples has zero mean and unit variance,
        in order from the input. x: examples (uint8 images or float vectors, a few hundred:
        OpenAI uses 256) with `labels` for a class-conditional model, pixels dequantised
        with noise drawn from `seed`; or a training Batch (glow_prior.models.batch). Marked
        in `initialized` (saved in checkpoints). Training does this itself before its first
        step; a model trained by hand should be initialised before its first step too."""
        batch = x if isinstance(x, Batch) else self._init_batch(x, labels, seed)
        with self.context.data_dependent_init():
            self.encode_with_log_det(tf.convert_to_tensor(batch.x), batch.noise, batch.labels)
        self.initialized.assign(True)

    def _init_batch(self, x, labels, seed):
        x, labels, _, _ = self._flat_inputs(x, labels)
        noise = self.dequantization_noise(x, seed) if self.discrete else None
        return Batch(x, labels=labels, noise=noise)

    # ------------------------------------------------------- the distribution's parts
    def _log_likelihood(self, x, labels, seed):
        return self.log_likelihood(x, self._test_noise(x, seed), labels)

    def log_prob_per_component(self, x, labels=None, seed=None):
        """[..., K] log-likelihoods with each prior component as the whole prior."""
        def per_component(flat, flat_labels, flat_seed):
            z, log_det = self.encode_with_log_det(flat, self._test_noise(flat, flat_seed),
                                                  flat_labels)
            return (self.prior.log_prob_per_component(z) + log_det[:, None]
                    - self.discretization_nats)
        return self._per_example(per_component, x, labels, seed)

    def _statistics(self, x, labels, seed):
        """Per-example statistics (see glow_prior.models.base) from one pass."""
        x_in = self.flow_input(x, self._test_noise(x, seed))
        labels = self._flow_labels(labels)
        if self.supports(LEVELS):
            parts, _, level_log_dets = self.flow.encode(x_in, labels)
            z = tf.concat([tf.reshape(p, [tf.shape(p)[0], -1]) for p in parts], axis=-1)
            log_det = tf.add_n(level_log_dets)
        else:
            z, log_det = self.flow.forward_and_log_det(x_in, labels=labels)
        log_prior = self.prior.log_prob(z)
        stats = {"log_likelihood": log_prior + log_det - self.discretization_nats,
                 "log_det": log_det, "log_prior": log_prior,
                 "latent_norm": tf.norm(z, axis=-1)}
        if self.supports(COMPONENTS):
            stats["component_log_likelihood"] = (self.prior.log_prob_per_component(z)
                                                 + log_det[:, None]
                                                 - self.discretization_nats)
        if self.supports(LEVELS):
            stats.update(self._level_terms(parts, level_log_dets))
        return stats

    def _level_terms(self, parts, level_log_dets):
        """level_k = log N(eps_k) + level k's log|det| - (its share of D log n_bins, by its
        latent dimensions): the per-level decomposition, summing to the log-likelihood."""
        terms = {}
        for index, (part, log_det) in enumerate(zip(parts, level_log_dets)):
            size = math.prod(part.shape[1:])
            flat = tf.reshape(part, [-1, size])
            share = self.discretization_nats * size / self.num_dims
            log_normal = -0.5 * tf.reduce_sum(flat ** 2 + math.log(2 * math.pi), axis=-1)
            terms[f"level_{index}"] = log_normal + log_det - share
        return terms

    def _encode(self, x, labels, seed):
        """Flat latents; pixel data without a noise seed sits at its bins' centres."""
        noise = self._test_noise(x, seed)
        if self.discrete and noise is None:
            noise = quantization.bin_centres(tf.shape(x), self.n_bits_x, self.float_dtype)
        return self.encode_with_log_det(x, noise, labels)[0]

    def _decode(self, z, labels):
        x, _ = self.flow.inverse_and_log_det(z, labels=self._flow_labels(labels))
        return quantization.postprocess(x, self.n_bits_x) if self.discrete else x

    def _draw(self, n, seed, temperature, labels):
        """n samples at `temperature` (the prior's deviations scaled)."""
        return self._decode(self.prior.sample(n, seed, temperature, dtype=self.float_dtype),
                            labels)
