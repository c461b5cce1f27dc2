"""RealNVP masks and couplings: untouched halves, exact inverses, cycle order, log-dets.

Tolerances: one coupling's float32 round trip errs by a few ulps of its inputs of order 1
(1e-5 allowed); a whole RealNVP's by the product of its couplings' conditioning (1e-4).
The brute-force log|det J| comes from a float32 Jacobian of a D <= 64 map, whose entries
carry ~1e-7 relative error and move slogdet by ~D * 1e-6 (1e-3 absolute allowed; 2e-3 for
the whole model's, which adds the logit preprocessing's large terms).
"""
import functools

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.bijectors import masks
from glow_prior.bijectors.base import FlowContext
from glow_prior.bijectors.conditioners import ResNetST
from glow_prior.bijectors.couplings import Coupling, MaskPair, TanhScale
from glow_prior.bijectors.logit import LogitPreprocess
from glow_prior.config import PriorConfig, RealNVPConfig
from glow_prior.models.realnvp import build_realnvp
from glow_prior.models.priors import build_prior
from tests.bijectors.test_glow_bijectors import brute_force_log_det
from tests.conftest import randomize

# Float rounding decides these: CI runs them under several oneDNN instruction sets.
pytestmark = pytest.mark.numerics

SHAPE = (4, 4, 2)
MASK_PAIRS = {
    "checkerboard0": masks.checkerboard(SHAPE, 0),
    "checkerboard1": masks.checkerboard(SHAPE, 1),
    "channelwise0": masks.channelwise(SHAPE, 0),
    "channelwise1": masks.channelwise(SHAPE, 1),
    "horizontal0": masks.horizontal(SHAPE, 0),
    "horizontal1": masks.horizontal(SHAPE, 1),
    **{f"quadrant{a}to{b}": masks.quadrant(SHAPE, a, b) for a, b in masks.CYCLE},
}


@pytest.mark.parametrize("name", sorted(MASK_PAIRS))
def test_coupling_keeps_unmasked_positions_and_inverts_exactly(name):
    mask_in, mask_out = MASK_PAIRS[name]
    assert not np.any(mask_in * mask_out) and mask_out.any() and mask_in.any()
    coupling = Coupling(MaskPair(mask_in, mask_out),
                        ResNetST("c/st", SHAPE, 8, 2, np.random.RandomState(0), FlowContext()),
                        TanhScale("c", [1, 1, 1, SHAPE[-1]]))
    randomize(coupling, scale=0.2)
    x = tf.constant(np.random.default_rng(1).normal(size=(3, *SHAPE)), tf.float32)
    y, log_det = coupling.forward_and_log_det(x)
    unchanged = 1.0 - mask_out
    np.testing.assert_array_equal((y * unchanged).numpy(), (x * unchanged).numpy())
    assert np.abs((y - x).numpy() * mask_out).max() > 1e-3  # the masked part does change
    x_back, inverse_log_det = coupling.inverse_and_log_det(y)
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-5)
    np.testing.assert_allclose(
        log_det, brute_force_log_det(lambda v: coupling.forward_and_log_det(v)[0], x), atol=1e-3)


def test_mask_layouts():
    mask_in, _ = masks.checkerboard((2, 2, 1), 0)
    assert mask_in[..., 0].tolist() == [[1, 0], [0, 1]]
    assert masks.channelwise((1, 1, 4), 0)[0][0, 0].tolist() == [1, 1, 0, 0]
    assert masks.horizontal((4, 1, 1), 1)[0][:, 0, 0].tolist() == [0, 0, 1, 1]
    # quadrants: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left
    grid = sum(i * masks.quadrant_mask((2, 2, 1), i) for i in range(4))[..., 0]
    assert grid.tolist() == [[0, 1], [3, 2]]


def test_cycle_mask_order():
    """Each coupling reads the quadrant the previous one wrote; four layers close the cycle."""
    pairs = masks.cycle_masks(SHAPE, 8)
    quadrant_of = lambda m: [i for i in range(4)
                             if np.array_equal(m, masks.quadrant_mask(SHAPE, i))][0]
    order = [(quadrant_of(a), quadrant_of(b)) for a, b in pairs]
    assert order == [(0, 1), (1, 2), (2, 3), (3, 0)] * 2
    for (_, written), (read, _) in zip(order, order[1:]):
        assert written == read


def test_logit_preprocess_log_det_and_inverse():
    logit = LogitPreprocess(0.05)
    x = tf.constant(np.random.default_rng(2).uniform(-0.5, 0.5, (2, 3, 3, 1)), tf.float32)
    y, log_det = logit.forward_and_log_det(x)
    np.testing.assert_allclose(log_det, brute_force_log_det(lambda v: logit.forward(v), x),
                               atol=1e-3)
    np.testing.assert_allclose(logit.inverse(y), x, atol=1e-5)


@pytest.mark.parametrize("mask,extra", [("checkerboard", {}), ("horizontal", {}),
                                        ("cycle", {}), ("checkerboard", {"bottleneck": 4})])
def test_realnvp_change_of_variables(mask, extra):
    config = RealNVPConfig(image_shape=(4, 4, 2), mask=mask, n_scales=2, n_couplings=4,
                           st_blocks=2, st_width=4, **extra)
    model = build_realnvp(config, functools.partial(build_prior, PriorConfig()))
    randomize(model.flow, scale=0.1)
    x = tf.constant(np.random.default_rng(3).uniform(-0.5, 0.49, (2, 4, 4, 2)), tf.float32)
    z, log_det = model.flow.forward_and_log_det(x)
    assert z.shape == (2, 32)
    np.testing.assert_allclose(
        log_det, brute_force_log_det(lambda v: model.flow.forward_and_log_det(v)[0], x),
        atol=2e-3)
    np.testing.assert_allclose(model.flow.inverse_and_log_det(z)[0], x, atol=1e-4)
