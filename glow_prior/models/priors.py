"""Fixed (untrainable) priors over a flat latent z in R^D, after Kamoi et al. (2019).

    p(z) = (1/K) sum_k p_k(z),   p_k(z) = prod_d f(z_d - mu_kd)

with f the standard normal density (kind "gaussian_mixture", or "standard" for K = 1 and
mu = 0) or the generalized normal density (kind "generalized_gaussian_mixture", their eq. 3)

    f(x) = beta / (2 alpha Gamma(1/beta)) exp(-(|x| / alpha)^beta),
    alpha = sqrt(Gamma(1/beta) / Gamma(3/beta)),

whose variance alpha^2 Gamma(3/beta) / Gamma(1/beta) is 1; beta = 4 makes it light-tailed,
so components need less distance to leave little mass between them (their Section 5.3).

The settings are glow_prior.config.PriorConfig (build_prior).
Training scores each example with its assigned component only, log p_k(z) (Section 4:
"the likelihood for each input is evaluated using a different unimodal prior p_i"); test
scores use the uniform mixture. Components are assigned before training by a label map or
by k-means++ clusters (glow_prior.data.components.assign_components).
"""
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.config.prior import KINDS, LAYOUTS
from glow_prior.errors import InputError
from glow_prior.seeds import tfp_seed

tfd = tfp.distributions


def generalized_normal_scale(beta):
    """alpha with unit variance: sqrt(Gamma(1/beta) / Gamma(3/beta))."""
    return math.sqrt(math.gamma(1.0 / beta) / math.gamma(3.0 / beta))


def component_means(layout, n_components, distance, latent_size, explicit=None):
    """Component means [K, D].

    layout "two_sided": K = 2, means [+d/2, 0, ...] and [-d/2, 0, ...] (Figure 6's distance d;
      d = 100 gives the [+-50, 0, ...] of the Glow experiments).
    layout "line": [d*k, 0, ...] for k = 0..K-1 (the four-component Glow, d = 200).
    layout "onehot": d * e_k, i.e. [d, 0, ..], [0, d, 0, ..], ... (the four-component VAE).
    explicit: K rows of leading coordinates (the rest zero); overrides `layout`.
    """
    means = np.zeros([n_components, latent_size], np.float32)
    if explicit is not None:
        explicit = np.atleast_2d(np.asarray(explicit, np.float32))
        if explicit.shape[0] != n_components or explicit.shape[1] > latent_size:
            raise InputError(f"explicit means {explicit.shape} do not fit {n_components} "
                             f"components of a {latent_size}-dim latent")
        means[:, :explicit.shape[1]] = explicit
        return means
    if layout == "two_sided":
        if n_components != 2:
            raise InputError(f"layout two_sided needs 2 components, got {n_components}")
        means[:, 0] = [distance / 2.0, -distance / 2.0]
    elif layout == "line":
        means[:, 0] = distance * np.arange(n_components)
    elif layout == "onehot":
        if n_components > latent_size:
            raise InputError(f"onehot layout: {n_components} components > {latent_size} dims")
        means[np.arange(n_components), np.arange(n_components)] = distance
    else:
        raise InputError(f"unknown layout '{layout}'; use one of {LAYOUTS}")
    return means


class Prior(tf.Module):
    """A standard normal or a uniform, fixed mixture over a flat latent of size D.

    Every method computes in the dtype of the latent it is given (float32 or float64).
    """

    def __init__(self, kind, means, beta=4.0):
        super().__init__(name="prior")
        if kind not in KINDS:
            raise InputError(f"unknown prior '{kind}'; use one of {KINDS}")
        means = np.asarray(means, np.float32)
        if kind == "standard" and (means.shape[0] != 1 or np.any(means)):
            raise InputError("the standard prior has one component at the origin")
        self.kind = kind
        self.means = tf.constant(means)
        self.n_components, self.latent_size = means.shape
        self.beta = float(beta)
        self.scale = generalized_normal_scale(beta) if self._generalized else 1.0

    @property
    def _generalized(self):
        return self.kind == "generalized_gaussian_mixture"

    def component(self, loc):
        """The product density p_k with mean `loc` ([..., D]), as a TFP distribution."""
        scale = tf.cast(self.scale, loc.dtype)
        if self._generalized:
            base = tfd.GeneralizedNormal(loc=loc, scale=scale, power=tf.cast(self.beta,
                                                                              loc.dtype))
        else:
            base = tfd.Normal(loc=loc, scale=scale)
        return tfd.Independent(base, reinterpreted_batch_ndims=1)

    def distribution(self, dtype=tf.float32):
        """p(z) as a TFP distribution over [D] in `dtype`: the component itself for K = 1,
        else the uniform MixtureSameFamily of the components."""
        means = tf.cast(self.means, dtype)
        if self.n_components == 1:
            return self.component(means[0])
        logits = tf.zeros([self.n_components], dtype)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=logits), self.component(means))

    def log_prob(self, z):
        """log p(z) under the uniform mixture (the test-time density), [B]."""
        return self.distribution(z.dtype).log_prob(z)

    def component_log_prob(self, z, components):
        """log p_k(z) with k = components[b] for each example, evaluating only that one."""
        return self.component(tf.gather(tf.cast(self.means, z.dtype), components)).log_prob(z)

    def log_prob_per_component(self, z):
        """[B, K] matrix of log p_k(z)."""
        return self.component(tf.cast(self.means, z.dtype)).log_prob(z[:, None, :])

    def sample(self, n, seed, temperature=1.0, components=None, dtype=tf.float32):
        """Draws z = mu_k + temperature * (sample of p_k - mu_k); k uniform unless given.
        `seed`: an int or a pair (glow_prior.seeds)."""
        component_seed, noise_seed = tf.unstack(tfp.random.split_seed(tfp_seed(seed), 2))
        if components is None:
            components = tf.random.stateless_uniform(
                [n], component_seed, 0, self.n_components, dtype=tf.int32)
        centred = self.component(tf.zeros([self.latent_size], dtype)).sample(n,
                                                                              seed=noise_seed)
        return (tf.gather(tf.cast(self.means, dtype), components)
                + tf.cast(temperature, dtype) * centred)


def build_prior(config, latent_size):
    """The Prior a glow_prior.config.PriorConfig describes, over a latent of latent_size."""
    if not config.is_mixture:
        return Prior("standard", np.zeros([1, latent_size], np.float32))
    means = component_means(config.layout, config.n_components, config.distance, latent_size,
                            config.explicit_means)
    return Prior(config.kind, means, config.beta)
