"""Likelihood regret (Xiao et al. 2020, "Likelihood regret: an out-of-distribution detection
score for variational auto-encoder").

For each input x, a copy of the VAE's encoder is re-optimised with Adam on x's ELBO alone
(one reparameterised sample per step); the ELBO is measured with `eval_samples` fixed
draws every `eval_every` steps and the best value is kept, so the re-optimised ELBO is
never below the trained encoder's. regret(x) = best ELBO - ELBO of the trained encoder
(>= 0); the score is -regret. The copy runs through the VAE's own code path
(VAE.posterior_parameters with `encoder=` the copy; batch normalisation in inference mode).
The standard-normal draws are common random numbers (the same for every input), so an
input's regret does not depend on the set it is scored in.
"""
import numpy as np
import tensorflow as tf
import tf_keras

from glow_prior.models.base import POSTERIOR
from glow_prior.ood.base import Score, register


class RegretOptimizer:
    """Re-optimises a copy of `model`'s encoder per input (see the module docstring)."""

    def __init__(self, model, steps=100, lr=1e-4, eval_samples=4, eval_every=10):
        self.model, self.steps, self.lr = model, int(steps), float(lr)
        self.eval_samples, self.eval_every = int(eval_samples), int(eval_every)
        self.encoder = tf_keras.models.clone_model(model.encoder)
        self.encoder.set_weights(model.encoder.get_weights())
        self.variables = self.encoder.trainable_variables
        self.trained = [tf.constant(v) for v in self.variables]
        self.first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self._regret = tf.function(self._optimise)

    def elbo(self, x, eps):
        """ELBO of one image x [1, H, W, C] under the copy, averaged over eps [S, 1, L]."""
        mean, log_variance = self.model.posterior_parameters(x, encoder=self.encoder)
        std = tf.exp(0.5 * log_variance)
        z = tf.reshape(mean + std * eps, [-1, mean.shape[-1]])
        samples = tf.shape(eps)[0]
        log_px = self.model.decoder_log_likelihood(tf.repeat(x, samples, axis=0), z)
        log_pz = self.model.prior.log_prob(z)
        log_q = tf.reduce_sum(-0.5 * tf.square((z - mean) / std) - tf.math.log(std)
                              - 0.5 * np.log(2 * np.pi), axis=-1)
        return tf.reduce_mean(log_px + log_pz - log_q)

    def _optimise(self, x, seed):
        for variable, value in zip(self.variables, self.trained):
            variable.assign(value)
        for slot in self.first + self.second:
            slot.assign(tf.zeros_like(slot))
        latent = self.model.config.latent_dim
        dtype = self.model.float_dtype
        eval_eps = tf.random.stateless_normal([self.eval_samples, 1, latent], seed, dtype=dtype)
        initial = self.elbo(x, eval_eps)
        best = initial
        for step in tf.range(1, self.steps + 1):
            eps = tf.random.stateless_normal(
                [1, 1, latent], tf.random.experimental.stateless_fold_in(seed, step), dtype=dtype)
            with tf.GradientTape() as tape:
                loss = -self.elbo(x, eps)
            grads = tape.gradient(loss, self.variables)
            t = tf.cast(step, dtype)
            rate = self.lr * tf.sqrt(1.0 - 0.999 ** t) / (1.0 - 0.9 ** t)
            for variable, grad, m, v in zip(self.variables, grads, self.first, self.second):
                m.assign(0.9 * m + 0.1 * grad)
                v.assign(0.999 * v + 0.001 * grad * grad)
                variable.assign_sub(rate * m / (tf.sqrt(v) + 1e-8))
            if step % self.eval_every == 0 or step == self.steps:
                best = tf.maximum(best, self.elbo(x, eval_eps))
        return best - initial

    def __call__(self, x, seed=0):
        """Regret of every uint8 image in x [N, H, W, C]."""
        seed = tf.constant([seed, 0], tf.int64)
        return np.array([float(self._regret(tf.constant(image[None]), seed)) for image in x])


@register
class LikelihoodRegret(Score):
    name = "likelihood_regret"
    reference = "Xiao et al. 2020"
    requires = frozenset({POSTERIOR})
    expensive = True

    def fit(self, inputs):
        self.optimizer = RegretOptimizer(inputs.model, inputs.options.get("regret_steps", 100),
                                         inputs.options.get("regret_lr", 1e-4))

    def compute(self, inputs, set_name):
        return -self.optimizer(inputs.examples(set_name), inputs.seed)
