"""An image flow with a fixed prior: the model object every flow binary works with.

The density model is `tfd.TransformedDistribution(prior, tfb.Invert(flow))` over the
continuous flow input x_in = x/n_bins - 0.5 + u in [-0.5, 0.5)^D (see
glow_prior.data.preprocess). Log-likelihoods are reported in OpenAI Glow's convention:

    log-likelihood(x) = log p(x_in) - D log(n_bins)   [nats],
    bits/dim = -log-likelihood / (D ln 2),

computed through the flow's one-pass `forward_and_log_det` (the TransformedDistribution
gives the same number, with each coupling network evaluated twice).
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.bijectors.base import data_dependent_init
from glow_prior.data import preprocess

tfb = tfp.bijectors
tfd = tfp.distributions


class FlowModel(tf.Module):
    """flow: a MultiScaleFlow (image -> flat latent); prior: a glow_prior.priors.Prior."""

    def __init__(self, flow, prior, n_bits_x, classifier=None, name="flow_model"):
        super().__init__(name=name)
        if prior.latent_size != flow.latent_size:
            raise ValueError(f"prior over {prior.latent_size} dims, flow latent has "
                             f"{flow.latent_size}")
        self.flow = flow
        self.prior = prior
        self.n_bits_x = int(n_bits_x)
        self.classifier = classifier
        self.image_shape = flow.image_shape
        self.num_dims = int(math.prod(self.image_shape))
        # True once the data-dependent init ran (saved in checkpoints: a resumed run must
        # not re-initialise actnorm over trained weights).
        self.initialized = tf.Variable(False, trainable=False, name="initialized")
        self.distribution = tfd.TransformedDistribution(prior.distribution, tfb.Invert(flow))

    @property
    def conditional(self):
        """True if log-likelihoods need class labels y (Glow's ycond)."""
        return getattr(self.flow.top, "y_emb", None) is not None

    @property
    def discretization_nats(self):
        """D log(n_bins): what separates the continuous density from OpenAI's objective."""
        return self.num_dims * math.log(preprocess.n_bins(self.n_bits_x))

    def flow_input(self, x_uint8, noise=None):
        return preprocess.to_flow_input(x_uint8, self.n_bits_x, noise)

    def encode_with_log_det(self, x_uint8, noise=None, y=None):
        """(flat latent z [B, D], log|det dz/dx_in| [B]) in one pass."""
        return self.flow.forward_and_log_det(self.flow_input(x_uint8, noise), y=y)

    def log_likelihood(self, x_uint8, noise=None, y=None):
        """Per-example log-likelihood in nats under the prior's (mixture) density."""
        z, log_det = self.encode_with_log_det(x_uint8, noise, y)
        return self.prior.log_prob(z) + log_det - self.discretization_nats

    def assigned_log_likelihood(self, x_uint8, components, noise=None, y=None):
        """Log-likelihood with each example scored by its assigned component only."""
        z, log_det = self.encode_with_log_det(x_uint8, noise, y)
        return (self.prior.component_log_prob(z, components) + log_det
                - self.discretization_nats)

    def log_likelihood_per_component(self, x_uint8, noise=None, y=None):
        """[B, K] log-likelihoods with each prior component as the whole prior."""
        z, log_det = self.encode_with_log_det(x_uint8, noise, y)
        return (self.prior.log_prob_per_component(z) + log_det[:, None]
                - self.discretization_nats)

    def dequantization_noise(self, x_uint8, seed):
        return preprocess.uniform_noise(tf.shape(x_uint8), self.n_bits_x, seed)

    def train_log_likelihood(self, x_uint8, seed, y=None, components=None, noise=None):
        """What training maximises, on uniformly dequantised inputs (the batch's `noise`,
        else noise drawn from `seed`): the assigned-component log-likelihood when
        components are given (mixture-prior training), else the log-likelihood under the
        prior's own density."""
        if noise is None:
            noise = self.dequantization_noise(x_uint8, seed)
        if components is None:
            return self.log_likelihood(x_uint8, noise, y)
        return self.assigned_log_likelihood(x_uint8, components, noise, y)

    def score(self, x_uint8, seed, dequantize=True, y=None):
        """Test-time log-likelihood (nats): uniform dequantisation noise drawn from `seed`
        (the same seed gives the same noise), or none (x on its bin's lower edge)."""
        noise = self.dequantization_noise(x_uint8, seed) if dequantize else None
        return self.log_likelihood(x_uint8, noise, y)

    def class_logits(self, x_uint8, noise=None, y=None):
        """OpenAI's ycond classifier on the spatial mean of z_top (needs a classifier)."""
        _, z_top, _ = self.flow.encode(self.flow_input(x_uint8, noise), y)
        return self.classifier(tf.reduce_mean(z_top, axis=[1, 2]))

    def decode(self, z, y=None):
        """Flat latent -> uint8 image."""
        x, _ = self.flow.inverse_and_log_det(z, y=y)
        return preprocess.postprocess(x, self.n_bits_x)

    def sample(self, n, seed, temperature=1.0, y=None):
        """uint8 samples drawn at `temperature` (the prior's deviations scaled)."""
        return self.decode(self.prior.sample(n, seed, temperature), y)

    def initialize_from_batch(self, batch):
        """Data-dependent init on a training batch (its images, noise and labels)."""
        self.initialize(batch["x"], batch.get("noise"), batch.get("y"))

    def initialize(self, x_uint8, noise=None, y=None):
        """OpenAI's data-dependent init on one batch (eager), marked in `initialized`."""
        with data_dependent_init():
            self.encode_with_log_det(tf.convert_to_tensor(x_uint8), noise, y)
        self.initialized.assign(True)
