"""Glow bijectors: exact inverses and log-determinants against brute-force Jacobians.

Tolerances: round trips run in float32 through a few layers, so |x - f^-1(f(x))| stays
around 1e-6 for inputs of order 1 (we allow 1e-4). The brute-force log|det J| is computed
in float64 from a float32 Jacobian of a D=32 map; entries carry ~1e-7 relative error, which
moves slogdet by ~D * 1e-6, so 1e-3 absolute on values of order 1-10 is a safe bound.
"""
import functools

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.models.batch import Batch
from glow_prior.bijectors.actnorm import ActNorm
from glow_prior.bijectors.base import FlowContext
from glow_prior.bijectors.conditioners import GlowCouplingNet
from glow_prior.bijectors.couplings import ChannelHalves, Coupling, Shift, SigmoidScale
from glow_prior.bijectors.permutations import (
    AxisInvertible1x1Conv,
    Invertible1x1Conv,
    ReverseChannels,
    ShuffleChannels,
)
from glow_prior.bijectors.squeeze import Squeeze, squeeze2d, unsqueeze2d
from glow_prior.config import GlowConfig, PriorConfig
from glow_prior.models.glow import build_glow
from glow_prior.models.priors import build_prior
from tests.conftest import randomize

# Float rounding decides these: CI runs them under several oneDNN instruction sets.
pytestmark = pytest.mark.numerics

RNG = np.random.RandomState(0)


def brute_force_log_det(function, x):
    """log|det d function(x)/dx| per example, from the full Jacobian (float64 slogdet)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reshape(function(x), [x.shape[0], -1])
    jacobian = tape.batch_jacobian(y, x)
    jacobian = tf.reshape(jacobian, [x.shape[0], y.shape[1], -1])
    return tf.linalg.slogdet(tf.cast(jacobian, tf.float64))[1].numpy()


def _image(shape=(3, 4, 4, 4), seed=1):
    return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


CONTEXT = FlowContext()


def _glow_coupling(n_out, transform, interleaved_pairs=False):
    net = GlowCouplingNet("c/f1", 2, 8, n_out, RNG, CONTEXT, interleaved_pairs)
    return Coupling(ChannelHalves(), net, transform)


LAYERS = {
    "actnorm": lambda: ActNorm("a", 4, CONTEXT),
    "reverse": ReverseChannels,
    "shuffle": lambda: ShuffleChannels("s", 4, RNG),
    "invconv": lambda: Invertible1x1Conv("i", 4, RNG),
    "invconv_lu": lambda: Invertible1x1Conv("l", 4, RNG, lu=True),
    "invconv_height": lambda: AxisInvertible1x1Conv("h", 4, 1, RNG),
    "invconv_width": lambda: AxisInvertible1x1Conv("w", 4, 2, RNG),
    "additive": lambda: _glow_coupling(2, Shift()),
    "affine": lambda: _glow_coupling(4, SigmoidScale(), interleaved_pairs=True),
    "affine_offset": lambda: _glow_coupling(4, SigmoidScale(0.1), interleaved_pairs=True),
    "squeeze": Squeeze,
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_inverse_and_log_det(name):
    layer = LAYERS[name]()
    randomize(layer)
    x = _image()
    y, log_det = layer.forward_and_log_det(x)
    x_back, inverse_log_det = layer.inverse_and_log_det(y)
    np.testing.assert_allclose(x_back, x, atol=1e-4)
    np.testing.assert_allclose(log_det, -inverse_log_det, atol=1e-4)
    expected = brute_force_log_det(lambda v: layer.forward_and_log_det(v)[0], x)
    np.testing.assert_allclose(log_det, expected, atol=1e-3)


def test_lu_matrix_is_a_product_of_its_factors():
    conv = Invertible1x1Conv("l", 6, np.random.RandomState(3), lu=True)
    randomize(conv)
    w = conv.matrix().numpy()
    lower = np.tril(conv.L.numpy(), -1) + np.eye(6)
    upper = np.triu(conv.U.numpy(), 1) + np.diag(conv.sign_S.numpy() * np.exp(conv.log_S.numpy()))
    np.testing.assert_allclose(w, conv.P.numpy() @ lower @ upper, atol=1e-5)
    np.testing.assert_allclose(conv.log_abs_det(), np.linalg.slogdet(w)[1], atol=1e-4)


def test_squeeze_channel_order_is_openai():
    """New channel 4c + 2dy + dx holds x[2i+dy, 2j+dx, c]."""
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    z = squeeze2d(tf.constant(x)).numpy()
    for c in range(3):
        for dy in range(2):
            for dx in range(2):
                np.testing.assert_array_equal(z[:, :, :, 4 * c + 2 * dy + dx],
                                              x[:, dy::2, dx::2, c])
    np.testing.assert_array_equal(unsqueeze2d(tf.constant(z)).numpy(), x)
    with pytest.raises(ValueError, match="divisible"):
        squeeze2d(tf.zeros([1, 3, 4, 1]))


GLOW_VARIANTS = {
    "openai_affine_learntop": dict(flow_coupling=1, learntop=True),
    "additive_shuffle": dict(flow_coupling=0, flow_permutation=1),
    "reverse_lu_ycond": dict(flow_coupling=1, flow_permutation=0, ycond=True, n_y=3),
    "kamoi_no_split_three_axis": dict(flow_coupling=1, multiscale=False, three_axis_1x1=True,
                                      scale_offset=0.1, lu_decomposed=True),
}


def _tiny_glow(**overrides):
    config = GlowConfig(image_shape=(4, 4, 2), n_levels=2, depth=2, width=8, seed=1,
                        **overrides)
    model = build_glow(config, functools.partial(build_prior, PriorConfig()))
    randomize(model.flow)
    return model


@pytest.mark.parametrize("variant", sorted(GLOW_VARIANTS))
def test_glow_change_of_variables_against_brute_force_jacobian(variant):
    model = _tiny_glow(**GLOW_VARIANTS[variant])
    y = tf.constant([0, 2]) if model.conditional else None
    x = tf.constant(np.random.default_rng(2).uniform(-0.5, 0.5, (2, 4, 4, 2)), tf.float32)
    z, log_det = model.flow.forward_and_log_det(x, labels=y)
    assert z.shape == (2, 32)
    expected = brute_force_log_det(lambda v: model.flow.forward_and_log_det(v, labels=y)[0],
                                   x)
    np.testing.assert_allclose(log_det, expected, atol=1e-3)
    x_back, inverse_log_det = model.flow.inverse_and_log_det(z, labels=y)
    np.testing.assert_allclose(x_back, x, atol=1e-4)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-3)


def test_transformed_distribution_matches_one_pass_density():
    model = _tiny_glow(flow_coupling=1, learntop=True)
    x = tf.constant(np.random.default_rng(4).uniform(-0.5, 0.5, (3, 4, 4, 2)), tf.float32)
    z, log_det = model.flow.forward_and_log_det(x)
    one_pass = model.prior.log_prob(z) + log_det
    np.testing.assert_allclose(model.flow_distribution.log_prob(x), one_pass, rtol=1e-5)
    samples = model.flow_distribution.sample(5, seed=(1, 2))
    assert samples.shape == (5, 4, 4, 2)


def test_flow_runs_with_unknown_batch_size():
    model = _tiny_glow(flow_coupling=1, learntop=True)

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 2], tf.float32)])
    def encode(x):
        return model.flow.forward_and_log_det(x)

    z, log_det = encode(tf.zeros([7, 4, 4, 2]))
    assert z.shape == (7, 32) and log_det.shape == (7,)


def test_data_dependent_init_normalises_first_actnorm():
    model = _tiny_glow(flow_coupling=1)
    x = np.random.default_rng(5).integers(0, 256, (64, 4, 4, 2), dtype=np.uint8)
    noise = np.random.default_rng(6).uniform(0, 1 / 256, x.shape).astype(np.float32)
    model.initialize(Batch(x, noise=noise))
    squeezed = squeeze2d(model.flow_input(x, noise))
    normalised, _ = model.flow.levels[0].steps[1].steps[0].forward_and_log_det(squeezed)
    np.testing.assert_allclose(tf.reduce_mean(normalised, [0, 1, 2]), 0.0, atol=1e-5)
    np.testing.assert_allclose(tf.math.reduce_std(normalised, [0, 1, 2]), 1.0, atol=1e-4)
