"""A flow with a fixed prior: the model object every flow binary works with.

The density model is `tfd.TransformedDistribution(prior, tfb.Invert(flow))`.

* Images (n_bits_x set): the flow sees x_in = x/n_bins - 0.5 + u in [-0.5, 0.5) (see
  glow_prior.data.preprocess) and log-likelihoods are in OpenAI Glow's convention,

      log-likelihood(x) = log p(x_in) - D log(n_bins)   [nats],

* vectors (n_bits_x None: tabular data, embeddings, synthetic points): the flow sees x and
  the log-likelihood is the continuous log-density log p(x).

bits/dim = -log-likelihood / (D ln 2). Everything is computed through the flow's one-pass
`forward_and_log_det` (the TransformedDistribution gives the same number, with each
coupling network evaluated twice).

Dequantisation noise u: training draws it per batch; scoring takes it from a seed or, with
dequantize=False, uses none (x on its bin's lower edge, OpenAI's zero-noise objective).
`encode(x)` without noise places x at its bin's centre (u = half a bin), so that
decode(encode(x)) == x despite float rounding (decode floors x_in into its bin).
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.bijectors.multiscale import MultiScaleFlow
from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, FLOW_TERMS, IMAGES, LEVELS, DensityModel

tfb = tfp.bijectors
tfd = tfp.distributions


class FlowModel(DensityModel):
    """flow: image/vector -> flat latent bijector with `forward_and_log_det(x, y=None)`;
    prior: a glow_prior.priors.Prior; event_shape: shape of one input example; context:
    the FlowContext the flow's layers were built with."""

    def __init__(self, flow, prior, event_shape, context, n_bits_x=None, classifier=None,
                 name="flow_model"):
        super().__init__(name=name)
        self.flow = flow
        self.prior = prior
        self.context = context
        self.event_shape = tuple(int(d) for d in event_shape)
        self.num_dims = int(math.prod(self.event_shape))
        if prior.latent_size != self.num_dims:
            raise InputError(f"prior over {prior.latent_size} dims, the data has "
                             f"{self.num_dims}")
        self.n_bits_x = None if n_bits_x is None else int(n_bits_x)
        self.classifier = classifier
        # True once the data-dependent init ran (saved in checkpoints: a resumed run must
        # not re-initialise actnorm over trained weights).
        self.initialized = tf.Variable(False, trainable=False, name="initialized")
        self.distribution = tfd.TransformedDistribution(prior.distribution, tfb.Invert(flow))

    @property
    def capabilities(self):
        found = {FLOW_TERMS}
        if len(self.event_shape) == 3:
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
        """True if log-likelihoods need class labels y (Glow's ycond)."""
        return bool(getattr(self.flow, "class_conditional", False))

    @property
    def discretization_nats(self):
        """D log(n_bins): what separates the continuous density from OpenAI's objective."""
        if not self.discrete:
            return 0.0
        return self.num_dims * math.log(preprocess.n_bins(self.n_bits_x))

    def flow_input(self, x, noise=None):
        if not self.discrete:
            return tf.cast(x, tf.float32)
        return preprocess.to_flow_input(x, self.n_bits_x, noise)

    def _labels(self, y):
        """Class labels reach the flow only if it is class-conditional."""
        return y if self.conditional else None

    def encode_with_log_det(self, x, noise=None, y=None):
        """(flat latent z [B, D], log|det dz/dx_in| [B]) in one pass."""
        return self.flow.forward_and_log_det(self.flow_input(x, noise), y=self._labels(y))

    def log_likelihood(self, x, noise=None, y=None):
        """Per-example log-likelihood in nats under the prior's (mixture) density."""
        z, log_det = self.encode_with_log_det(x, noise, y)
        return self.prior.log_prob(z) + log_det - self.discretization_nats

    def assigned_log_likelihood(self, x, components, noise=None, y=None):
        """Log-likelihood with each example scored by its assigned component only."""
        z, log_det = self.encode_with_log_det(x, noise, y)
        return (self.prior.component_log_prob(z, components) + log_det
                - self.discretization_nats)

    def log_likelihood_per_component(self, x, noise=None, y=None):
        """[B, K] log-likelihoods with each prior component as the whole prior."""
        z, log_det = self.encode_with_log_det(x, noise, y)
        return (self.prior.log_prob_per_component(z) + log_det[:, None]
                - self.discretization_nats)

    def dequantization_noise(self, x, seed):
        """Uniform noise U[0, 1/n_bins) for pixel data (stateless: the seed fixes it)."""
        return preprocess.uniform_noise(tf.shape(x), self.n_bits_x, seed)

    def _test_noise(self, x, seed, dequantize):
        return self.dequantization_noise(x, seed) if self.discrete and dequantize else None

    def train_log_likelihood(self, x, seed, y=None, components=None, noise=None):
        """What training maximises: the assigned-component log-likelihood when components
        are given (mixture-prior training), else the prior's own density; pixel data is
        dequantised with the batch's `noise`, or noise drawn from `seed`."""
        if self.discrete and noise is None:
            noise = self.dequantization_noise(x, seed)
        if components is None:
            return self.log_likelihood(x, noise, y)
        return self.assigned_log_likelihood(x, components, noise, y)

    def score(self, x, seed, dequantize=True, y=None):
        """Test-time log-likelihood (nats). Pixel data gets uniform noise drawn from `seed`
        (the same seed gives the same noise) or, with dequantize=False, none."""
        return self.log_likelihood(x, self._test_noise(x, seed, dequantize), y)

    def statistics(self, x, seed, dequantize=True, y=None):
        """Per-example statistics (see glow_prior.models.base) from one pass."""
        x_in = self.flow_input(x, self._test_noise(x, seed, dequantize))
        labels = self._labels(y)
        if self.supports(LEVELS):
            parts, _, level_log_dets = self.flow.encode(x_in, y=labels)
            z = tf.concat([tf.reshape(p, [tf.shape(p)[0], -1]) for p in parts], axis=-1)
            log_det = tf.add_n(level_log_dets)
        else:
            z, log_det = self.flow.forward_and_log_det(x_in, y=labels)
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

    def class_logits(self, x, noise=None, y=None):
        """OpenAI's ycond classifier on the spatial mean of z_top (needs a classifier)."""
        _, z_top, _ = self.flow.encode(self.flow_input(x, noise), self._labels(y))
        return self.classifier(tf.reduce_mean(z_top, axis=[1, 2]))

    def encode(self, x, noise=None, y=None):
        """Flat latents; pixel data without `noise` sits at its bins' centres."""
        if self.discrete and noise is None:
            noise = preprocess.bin_centres(tf.shape(x), self.n_bits_x)
        return self.encode_with_log_det(x, noise, y)[0]

    def decode(self, z, y=None):
        """Flat latent -> data (uint8 images for pixel data)."""
        x, _ = self.flow.inverse_and_log_det(z, y=self._labels(y))
        return preprocess.postprocess(x, self.n_bits_x) if self.discrete else x

    def sample(self, n, seed, temperature=1.0, y=None):
        """Samples drawn at `temperature` (the prior's deviations scaled)."""
        return self.decode(self.prior.sample(n, seed, temperature), y)

    def initialize_from_batch(self, batch):
        """Data-dependent init on a training batch (its inputs, noise and labels)."""
        self.initialize(batch["x"], batch.get("noise"), batch.get("y"))

    def initialize(self, x, noise=None, y=None):
        """OpenAI's data-dependent init on one batch (eager), marked in `initialized`."""
        with self.context.data_dependent_init():
            self.encode_with_log_det(tf.convert_to_tensor(x), noise, y)
        self.initialized.assign(True)
