"""Priors against independent NumPy/SciPy computations.

Tolerances: float32 log-densities of order 1e2-1e4 nats carry ~1e-5 relative rounding.
"""
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import tensorflow as tf

from glow_prior.models import priors
from glow_prior.config import PriorConfig
from glow_prior.errors import InputError
from glow_prior.models.priors import build_prior


def _numpy_mixture_log_prob(z, means, kind, beta=4.0):
    """log (1/K) sum_k prod_d f(z_d - mu_kd), with f written out from the paper's eq. 3."""
    diff = z[:, None, :] - means[None]
    if kind == "gaussian_mixture":
        per_dim = -0.5 * diff ** 2 - 0.5 * np.log(2 * np.pi)
    else:
        alpha = math.sqrt(math.gamma(1 / beta) / math.gamma(3 / beta))
        per_dim = (np.log(beta / (2 * alpha * math.gamma(1 / beta)))
                   - (np.abs(diff) / alpha) ** beta)
    per_component = per_dim.sum(axis=-1)
    return scipy.special.logsumexp(per_component, axis=1) - np.log(len(means)), per_component


@pytest.mark.parametrize("kind", ["gaussian_mixture", "generalized_gaussian_mixture"])
def test_mixture_log_prob_matches_numpy_logsumexp(kind):
    prior = build_prior(PriorConfig(kind=kind, n_components=3, layout="line", distance=4.0), 6)
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (20, 6)).astype(np.float32)
    z[:5, 0] += 4.0
    expected, per_component = _numpy_mixture_log_prob(z.astype(np.float64),
                                                      prior.means.numpy(), kind)
    np.testing.assert_allclose(prior.log_prob(z), expected, rtol=1e-5)
    np.testing.assert_allclose(prior.log_prob_per_component(z), per_component, rtol=1e-5)


@pytest.mark.parametrize("kind", ["gaussian_mixture", "generalized_gaussian_mixture"])
def test_assigned_component_log_prob_is_that_components_own(kind):
    prior = build_prior(PriorConfig(kind=kind, n_components=4, layout="onehot",
                               distance=10.0), 5)
    z = np.random.default_rng(1).normal(0, 2, (8, 5)).astype(np.float32)
    components = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    assigned = prior.component_log_prob(z, components).numpy()
    for row, k in enumerate(components):
        single = prior.component(prior.means[k]).log_prob(z[row]).numpy()
        np.testing.assert_allclose(assigned[row], single, rtol=1e-6)
    np.testing.assert_allclose(assigned, prior.log_prob_per_component(z).numpy()[
        np.arange(8), components], rtol=1e-6)


def test_generalized_gaussian_has_unit_variance_and_integrates_to_one():
    prior = build_prior(PriorConfig(kind="generalized_gaussian_mixture"), 1)
    density = lambda x: float(np.exp(prior.component(tf.constant([0.0])).log_prob([[x]])[0]))
    mass = scipy.integrate.quad(density, -10, 10)[0]
    variance = scipy.integrate.quad(lambda x: x * x * density(x), -10, 10)[0]
    assert mass == pytest.approx(1.0, abs=1e-6)
    assert variance == pytest.approx(1.0, abs=1e-6)
    assert priors.generalized_normal_scale(4.0) == pytest.approx(
        math.sqrt(math.gamma(0.25) / math.gamma(0.75)))
    # beta = 2 with alpha = sqrt(2) is the standard normal.
    assert priors.generalized_normal_scale(2.0) == pytest.approx(math.sqrt(2.0))


def test_component_mean_layouts():
    assert priors.component_means("two_sided", 2, 100.0, 4).tolist() == [
        [50, 0, 0, 0], [-50, 0, 0, 0]]
    assert priors.component_means("line", 4, 200.0, 3)[:, 0].tolist() == [0, 200, 400, 600]
    np.testing.assert_array_equal(priors.component_means("onehot", 4, 150.0, 5)[:, :4],
                                  150 * np.eye(4))
    explicit = priors.component_means("two_sided", 2, 0.0, 3, explicit=((1, 2), (3, 4)))
    assert explicit.tolist() == [[1, 2, 0], [3, 4, 0]]
    with pytest.raises(ValueError, match="needs 2 components"):
        priors.component_means("two_sided", 3, 1.0, 4)


def test_standard_prior_is_a_unit_normal():
    prior = build_prior(PriorConfig(), 3)
    z = np.array([[0.0, 1.0, -2.0]], np.float32)
    assert float(prior.log_prob(z)[0]) == pytest.approx(
        -1.5 * np.log(2 * np.pi) - 0.5 * 5.0, rel=1e-6)
    assert prior.sample(4, seed=(0, 1), temperature=0.0).numpy().tolist() == [[0.0] * 3] * 4


def test_sampling_uses_the_requested_component_and_temperature():
    prior = build_prior(PriorConfig(kind="gaussian_mixture", distance=100.0), 2)
    samples = prior.sample(2000, seed=(3, 4), temperature=0.5,
                           components=tf.zeros([2000], tf.int32)).numpy()
    np.testing.assert_allclose(samples.mean(axis=0), [50, 0], atol=0.1)
    np.testing.assert_allclose(samples.std(axis=0), [0.5, 0.5], atol=0.05)
    mixed = prior.sample(2000, seed=(3, 5)).numpy()
    assert 0.4 < np.mean(mixed[:, 0] > 0) < 0.6


def test_sampling_accepts_int64_and_int32_seeds_alike():
    prior = build_prior(PriorConfig(kind="gaussian_mixture"), 3)
    from_int64 = prior.sample(5, seed=tf.constant([7, 8], tf.int64)).numpy()
    from_int32 = prior.sample(5, seed=tf.constant([7, 8], tf.int32)).numpy()
    np.testing.assert_array_equal(from_int64, from_int32)
