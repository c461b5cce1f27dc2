"""Objectives on a stub model whose log-likelihoods are given."""
import math

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.objectives import MaximumLikelihood, NegativeTraining, bits_per_dim


class StubModel:
    """Log-likelihood of an example = the sum of its entries."""

    num_dims = 4

    def train_log_likelihood(self, x, seed, y=None, components=None, noise=None):
        return tf.reduce_sum(x, axis=-1)


def _bits(ll):
    return -np.asarray(ll) / (4 * math.log(2))


def test_bits_per_dim():
    assert float(bits_per_dim(tf.constant(-4 * math.log(2) * 3.0), 4)) == pytest.approx(3.0)


def test_maximum_likelihood_is_mean_bits():
    loss, stats = MaximumLikelihood()(StubModel(), {"x": tf.constant([[-2.0], [-6.0]])},
                                      tf.constant([0, 0]))
    assert float(loss) == pytest.approx(_bits([-2.0, -6.0]).mean())
    assert float(stats["bits_x"]) == pytest.approx(float(loss))


def test_negative_training_only_counts_ood_examples_above_the_threshold():
    objective = NegativeTraining(threshold=-100.0)
    batch = {"x": tf.constant([[-10.0], [-30.0]]),
             "x_ood": tf.constant([[-50.0], [-500.0], [-70.0]])}
    loss, stats = objective(StubModel(), batch, tf.constant([0, 0]))
    expected = _bits([-10.0, -30.0]).mean() - _bits([-50.0, -70.0]).mean()
    assert float(loss) == pytest.approx(expected)
    assert float(stats["ood_above_threshold"]) == 2
    # All OOD below c: only the in-distribution term remains.
    batch["x_ood"] = tf.constant([[-500.0], [-700.0]])
    loss, _ = objective(StubModel(), batch, tf.constant([0, 0]))
    assert float(loss) == pytest.approx(_bits([-10.0, -30.0]).mean())


def test_negative_training_gradient_lowers_ood_likelihood():
    x_ood = tf.Variable([[-50.0]])
    with tf.GradientTape() as tape:
        loss, _ = NegativeTraining(-100.0)(StubModel(), {"x": tf.constant([[-1.0]]),
                                                             "x_ood": x_ood},
                                           tf.constant([0, 0]))
    # d loss / d ll_ood > 0: descending the loss lowers the OOD log-likelihood.
    assert float(tape.gradient(loss, x_ood)[0, 0]) > 0
