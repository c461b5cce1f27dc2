"""Objectives on a stub model whose log-likelihoods are given."""
import math

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.models.batch import Batch
from glow_prior.config import (
    PriorConfig,
    RunSpec,
    TabularDataConfig,
    TabularFlowConfig,
    TrainConfig,
)
from glow_prior.errors import InputError
from glow_prior.models.registry import build_model
from glow_prior.models.scoring import bits_per_dim
from glow_prior.training.objectives import MaximumLikelihood, NegativeTraining


class StubModel:
    """Log-likelihood of an example = the sum of its entries."""

    num_dims = 4

    def train_log_likelihood(self, batch, seed):
        return tf.reduce_sum(batch.x, axis=-1)


def _bits(ll):
    return -np.asarray(ll) / (4 * math.log(2))


def test_bits_per_dim():
    assert float(bits_per_dim(tf.constant(-4 * math.log(2) * 3.0), 4)) == pytest.approx(3.0)


def test_maximum_likelihood_is_mean_bits():
    loss, stats = MaximumLikelihood()(StubModel(), Batch(tf.constant([[-2.0], [-6.0]])),
                                      tf.constant([0, 0]))
    assert float(loss) == pytest.approx(_bits([-2.0, -6.0]).mean())
    assert float(stats["bits_x"]) == pytest.approx(float(loss))


def test_negative_training_only_counts_ood_examples_above_the_threshold():
    objective = NegativeTraining(threshold=-100.0)
    batch = Batch(tf.constant([[-10.0], [-30.0]]),
                  negatives=tf.constant([[-50.0], [-500.0], [-70.0]]))
    loss, stats = objective(StubModel(), batch, tf.constant([0, 0]))
    expected = _bits([-10.0, -30.0]).mean() - _bits([-50.0, -70.0]).mean()
    assert float(loss) == pytest.approx(expected)
    assert float(stats["ood_above_threshold"]) == 2
    # All OOD below c: only the in-distribution term remains.
    batch = Batch(batch.x, negatives=tf.constant([[-500.0], [-700.0]]))
    loss, _ = objective(StubModel(), batch, tf.constant([0, 0]))
    assert float(loss) == pytest.approx(_bits([-10.0, -30.0]).mean())


def test_negative_training_gradient_lowers_ood_likelihood():
    x_ood = tf.Variable([[-50.0]])
    with tf.GradientTape() as tape:
        loss, _ = NegativeTraining(-100.0)(
            StubModel(), Batch(tf.constant([[-1.0]]), negatives=x_ood), tf.constant([0, 0]))
    # d loss / d ll_ood > 0: descending the loss lowers the OOD log-likelihood.
    assert float(tape.gradient(loss, x_ood)[0, 0]) > 0


def test_negative_training_scores_in_distribution_examples_by_their_component():
    """Issue 11.5: with a mixture prior the in-distribution term uses each example's
    assigned component (like maximum likelihood), the negatives the whole mixture."""
    spec = RunSpec(model="tabular", architecture=TabularFlowConfig(num_dims=2, n_couplings=2,
                                                                   hidden_units=8),
                   prior=PriorConfig(kind="gaussian_mixture", distance=8.0),
                   data=TabularDataConfig(), training=TrainConfig())
    model = build_model(spec)
    x = tf.constant([[4.0, 0.0], [-4.0, 0.0]])
    components = tf.constant([0, 1])
    batch = Batch(x, components=components, negatives=tf.constant([[0.0, 0.0]]))
    _, stats = NegativeTraining(-1e9)(model, batch, tf.constant([0, 0], tf.int64))
    assigned = model.train_log_likelihood(Batch(x, components=components), (0, 0))
    np.testing.assert_allclose(float(stats["bits_x"]),
                               float(tf.reduce_mean(bits_per_dim(assigned, 2))), rtol=1e-6)
    mixture = model.log_likelihood(x)
    assert not np.allclose(assigned.numpy(), mixture.numpy())  # the test can tell them apart
    ood = model.log_likelihood(tf.constant([[0.0, 0.0]]))
    np.testing.assert_allclose(float(stats["ood_bits_x"]), float(bits_per_dim(ood, 2)[0]),
                               rtol=1e-6)


def test_a_batch_refuses_unknown_fields():
    """A misspelt field must not silently drop out of training (issue 18.4)."""
    Batch.from_mapping({"x": tf.zeros([1, 2]), "components": tf.zeros([1], tf.int32)})
    with pytest.raises(InputError, match="component"):
        Batch.from_mapping({"x": tf.zeros([1, 2]), "component": tf.zeros([1], tf.int32)})


def test_gradient_clipping_scales_the_global_norm_and_keeps_the_direction():
    """--max_grad_norm: the gradients the optimizer gets have at most that global norm, in
    the same direction (flows_ood's clipping for negative training)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from glow_prior.config import TrainConfig  # pylint: disable=import-outside-toplevel
    from glow_prior.training.step import TrainStep  # pylint: disable=import-outside-toplevel
    grads = [tf.constant([3.0, 4.0]), None, tf.constant([[12.0]])]  # global norm 13
    step = TrainStep(None, None, None, None, 0.0, TrainConfig(max_grad_norm=1.3),
                     tf.distribute.get_strategy(), None)
    clipped = step._clipped(grads)  # pylint: disable=protected-access
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0], [0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(clipped[2], [[1.2]], rtol=1e-6)
    unchanged = TrainStep(None, None, None, None, 0.0, TrainConfig(max_grad_norm=100.0),
                          tf.distribute.get_strategy(), None)._clipped(grads)  # pylint: disable=protected-access
    np.testing.assert_allclose(unchanged[0], [3.0, 4.0])
