"""A flow with a fixed prior: the model object every flow binary works with.

The density model is `tfd.TransformedDistribution(prior, tfb.Invert(flow))`.

* Images (n_bits_x set): the flow sees x_in = x/n_bins - 0.5 + u in [-0.5, 0.5)^D (see
  glow_prior.data.preprocess) and log-likelihoods are in OpenAI Glow's convention,

      log-likelihood(x) = log p(x_in) - D log(n_bins)   [nats],

* vectors (n_bits_x None: tabular data, embeddings, synthetic points): the flow sees x and
  the log-likelihood is the continuous log-density log p(x).

bits/dim = -log-likelihood / (D ln 2). Everything is computed through the flow's one-pass
`forward_and_log_det` (the TransformedDistribution gives the same number, with each
coupling network evaluated twice).
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.bijectors.base import data_dependent_init
from glow_prior.data import preprocess

tfb = tfp.bijectors
tfd = tfp.distributions


class FlowModel(tf.Module):
    """flow: image/vector -> flat latent bijector with `forward_and_log_det(x, y=None)`;
    prior: a glow_prior.priors.Prior; event_shape: shape of one input example."""

    def __init__(self, flow, prior, event_shape, n_bits_x=None, classifier=None,
                 name="flow_model"):
        super().__init__(name=name)
        self.flow = flow
        self.prior = prior
        self.event_shape = tuple(int(d) for d in event_shape)
        self.num_dims = int(math.prod(self.event_shape))
        if prior.latent_size != self.num_dims:
            raise ValueError(f"prior over {prior.latent_size} dims, the data has "
                             f"{self.num_dims}")
        self.n_bits_x = None if n_bits_x is None else int(n_bits_x)
        self.classifier = classifier
        # True once the data-dependent init ran (saved in checkpoints: a resumed run must
        # not re-initialise actnorm over trained weights).
        self.initialized = tf.Variable(False, trainable=False, name="initialized")
        self.distribution = tfd.TransformedDistribution(prior.distribution, tfb.Invert(flow))

    @property
    def discrete(self):
        """True for pixel data (dequantised, OpenAI's discrete log-likelihood)."""
        return self.n_bits_x is not None

    @property
    def dequantized(self):
        """Inputs get uniform dequantisation noise (pixel data)."""
        return self.discrete

    @property
    def image_shape(self):
        return self.event_shape

    @property
    def conditional(self):
        """True if log-likelihoods need class labels y (Glow's ycond)."""
        top = getattr(self.flow, "top", None)
        return getattr(top, "y_emb", None) is not None

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
        (the same seed gives the same noise) or, with dequantize=False, none (x on its
        bin's lower edge)."""
        noise = self.dequantization_noise(x, seed) if self.discrete and dequantize else None
        return self.log_likelihood(x, noise, y)

    def class_logits(self, x, noise=None, y=None):
        """OpenAI's ycond classifier on the spatial mean of z_top (needs a classifier)."""
        _, z_top, _ = self.flow.encode(self.flow_input(x, noise), self._labels(y))
        return self.classifier(tf.reduce_mean(z_top, axis=[1, 2]))

    def encode(self, x, noise=None, y=None):
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
        with data_dependent_init():
            self.encode_with_log_det(tf.convert_to_tensor(x), noise, y)
        self.initialized.assign(True)
