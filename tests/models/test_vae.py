"""The VAE and its importance-sampled log-likelihood.

The estimator is checked on a linear-Gaussian model, z ~ N(0, I_L), x | z ~ N(Wz + b,
s^2 I_D), whose marginal x ~ N(b, W W^T + s^2 I) is known in closed form.
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.models.batch import Batch
from glow_prior.config import PriorConfig, VAEConfig
from glow_prior.models.vae import VAE, importance_log_likelihood
from glow_prior.models.priors import build_prior

tfd = tfp.distributions
RNG = np.random.default_rng(0)
L, D, NOISE = 2, 4, 0.5
W = RNG.normal(size=(D, L)).astype(np.float32)
B = RNG.normal(size=D).astype(np.float32)
X = RNG.normal(size=(3, D)).astype(np.float32) * 2.0


def _exact_log_marginal(x):
    covariance = W.astype(np.float64) @ W.T + NOISE ** 2 * np.eye(D)
    scale = np.linalg.cholesky(covariance)
    return tfd.MultivariateNormalTriL(B.astype(np.float64), scale).log_prob(
        x.astype(np.float64)).numpy()


def _log_joint(z):
    """log p(x, z) for z [M, 3, L] and the three data points X."""
    prior = tfd.MultivariateNormalDiag(tf.zeros(L)).log_prob(z)
    mean = tf.einsum("dl,mbl->mbd", W, z) + B
    return prior + tfd.MultivariateNormalDiag(mean, NOISE * tf.ones(D)).log_prob(X)


def _exact_posterior():
    precision = np.eye(L) + W.T.astype(np.float64) @ W / NOISE ** 2
    covariance = np.linalg.inv(precision)
    means = (X - B).astype(np.float64) @ W @ covariance / NOISE ** 2
    return tfd.MultivariateNormalTriL(means.astype(np.float32),
                                      np.linalg.cholesky(covariance).astype(np.float32))


def _affine(distribution):
    """Its samples as a function of standard-normal draws (an affine TFP distribution)."""
    return distribution.bijector.forward


def test_exact_posterior_proposal_gives_the_exact_marginal():
    posterior = _exact_posterior()
    estimate = importance_log_likelihood(_log_joint, posterior, 7, 3, tf.constant([0, 1]),
                                         reparameterize=_affine(posterior))
    np.testing.assert_allclose(estimate, _exact_log_marginal(X), atol=1e-4)


def test_estimate_rises_toward_the_exact_marginal_with_more_samples():
    posterior = _exact_posterior()
    proposal = tfd.MultivariateNormalDiag(posterior.mean() + 0.5, 1.5 * tf.ones([3, L]))
    exact = _exact_log_marginal(X)
    estimator = tf.function(lambda samples, seed: importance_log_likelihood(
        _log_joint, proposal, samples, 250, seed, reparameterize=_affine(proposal)))
    means = []
    for samples in (1, 10, 100, 1000):
        estimates = [estimator(samples, tf.constant([samples, repeat])).numpy()
                     for repeat in range(100)]
        means.append(np.mean(estimates, axis=0))
    means = np.array(means)
    assert np.all(np.diff(means, axis=0) > 0)  # more samples: a tighter lower bound
    assert np.all(means < exact[None] + 0.02)   # Jensen: E[estimate] <= log p(x)
    assert np.all(exact - means[0] > 0.1)       # one sample is visibly loose
    np.testing.assert_allclose(means[-1], exact, atol=0.05)


@pytest.mark.parametrize("shape,latent", [((28, 28, 1), 50), ((32, 32, 3), 100)])
def test_architecture_output_shapes(shape, latent):
    model = VAE(VAEConfig(image_shape=shape, latent_dim=latent, importance_samples=4),
                build_prior(PriorConfig(), latent))
    x = RNG.integers(0, 256, (2, *shape), dtype=np.uint8)
    assert model.posterior(x).mean().shape == (2, latent)
    assert model._logits(tf.zeros([2, latent])).shape == (2, *shape, 256)
    assert model.decode(tf.zeros([2, latent])).shape == (2, *shape)
    assert model.log_prob(x, seed=(0, 1)).shape == (2,)


def test_training_term_uses_the_assigned_component():
    prior = build_prior(PriorConfig(kind="gaussian_mixture", distance=150.0), 50)
    model = VAE(VAEConfig(latent_dim=50), prior)
    x = RNG.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    seed = tf.constant([3, 4])
    elbo = model.train_log_likelihood(Batch(x, components=tf.constant([0, 1])), seed)
    posterior = model.posterior(x, training=True)
    z = posterior.sample(seed=seed)
    decoder_ll = model.decoder_log_likelihood(x, z, training=True)  # batch-norm batch of 2
    for row, component in enumerate((0, 1)):
        p_k = tfd.MultivariateNormalDiag(prior.means[component], tf.ones(50))
        q = tfd.MultivariateNormalDiag(posterior.mean()[row], posterior.stddev()[row])
        expected = decoder_ll[row] - tfd.kl_divergence(q, p_k)
        np.testing.assert_allclose(elbo[row], expected, rtol=1e-5)


def test_importance_estimate_is_above_the_elbo():
    model = VAE(VAEConfig(latent_dim=50, importance_samples=200), build_prior(PriorConfig(), 50))
    x = RNG.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    elbos = np.mean([model.train_log_likelihood(Batch(x), tf.constant([9, s])).numpy()
                     for s in range(20)], axis=0)
    # train_log_likelihood runs batch norm in training mode; compare in inference mode.
    posterior = model.posterior(x)
    z = posterior.sample(20, seed=(1, 2))
    standard = tfd.Independent(tfd.Normal(tf.zeros(50), 1.0), 1)
    inference_elbo = np.mean([(model.decoder_log_likelihood(x, z[i]) -
                               tfd.kl_divergence(posterior, standard)).numpy()
                              for i in range(20)], axis=0)
    assert np.all(np.isfinite(elbos))
    assert np.all(model.log_prob(x, seed=(0, 1)).numpy() > inference_elbo)
