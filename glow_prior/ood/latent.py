"""Latent goodness-of-fit scores for flows: how well z = f(x) fits the prior.

Under the model, the latent of an in-distribution input is a draw from the prior: for a
mixture, from its nearest component k (the one with the largest p_k(z)), so the residual
r = z - mu_k has D independent entries of the component's unit-variance 1-D density (the
standard normal, or the generalized normal with beta for generalized-Gaussian priors).
Two per-example tests of that (after the KL-divergence / goodness-of-fit tests of latents
in Zhang et al. 2020's KLODS and Bomatter et al. 2026's "Signal in the Noise"):

* latent_norm_test: T = (||r||^2 - D) / sqrt(D Var(r_i^2)), the standardised deviation of
  the squared norm from its chi-square-type expectation (Var(r_i^2) = 2 for the normal,
  alpha^4 Gamma(5/beta) / Gamma(1/beta) - 1 for the generalized normal); score -|T|
  (two-sided: OOD latents can be too concentrated as well as too spread);
* latent_ks: the Kolmogorov-Smirnov statistic of the D entries of r against the 1-D
  density's CDF; score -KS.
"""
import math

import numpy as np
import scipy.special
import scipy.stats

from glow_prior.models.base import FLOW_TERMS
from glow_prior.ood.base import Score, register
from glow_prior.models.priors import generalized_normal_scale


def residuals(prior, z, component_log_likelihood=None):
    """z minus the mean of its most likely component ([N, D]; the standard prior's is 0)."""
    means = prior.means.numpy().astype(np.float64)
    z = np.asarray(z, np.float64)
    if len(means) == 1:
        return z - means[0]
    nearest = np.argmax(component_log_likelihood, axis=1)
    return z - means[nearest]


def marginal(prior):
    """The prior components' 1-D marginal as a frozen scipy distribution."""
    if prior.kind == "generalized_gaussian_mixture":
        return scipy.stats.gennorm(prior.beta, scale=generalized_normal_scale(prior.beta))
    return scipy.stats.norm()


def square_variance(prior):
    """Var(r^2) of one residual entry under the component's marginal."""
    if prior.kind != "generalized_gaussian_mixture":
        return 2.0
    beta, alpha = prior.beta, generalized_normal_scale(prior.beta)
    return alpha ** 4 * math.gamma(5 / beta) / math.gamma(1 / beta) - 1.0


def norm_test(prior, r):
    """T per example (see the module docstring)."""
    dims = r.shape[1]
    return (np.sum(r ** 2, axis=1) - dims) / math.sqrt(dims * square_variance(prior))


def ks_statistic(cdf, r):
    """Kolmogorov-Smirnov statistic of each row of r against `cdf`."""
    values = cdf(np.sort(r, axis=1))
    n = r.shape[1]
    above = np.arange(1, n + 1) / n - values
    below = values - np.arange(n) / n
    return np.maximum(above.max(axis=1), below.max(axis=1))


def _residuals(inputs, set_name):
    stats = inputs.statistics(set_name)
    return residuals(inputs.model.prior, inputs.latents(set_name),
                     stats.get("component_log_likelihood"))


@register
class LatentNormTest(Score):
    name = "latent_norm_test"
    reference = "after Zhang et al. 2020 (KLODS); Bomatter et al. 2026"
    requires = frozenset({FLOW_TERMS})

    def compute(self, inputs, set_name):
        return -np.abs(norm_test(inputs.model.prior, _residuals(inputs, set_name)))


@register
class LatentKS(Score):
    name = "latent_ks"
    reference = "after Zhang et al. 2020 (KLODS); Bomatter et al. 2026"
    requires = frozenset({FLOW_TERMS})

    def compute(self, inputs, set_name):
        prior = inputs.model.prior
        cdf = scipy.special.ndtr if prior.kind != "generalized_gaussian_mixture" \
            else marginal(prior).cdf
        return -ks_statistic(cdf, _residuals(inputs, set_name))
