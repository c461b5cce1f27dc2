"""Masked affine coupling layers on images (Dinh et al. 2017; Kirichenko et al. 2020, App. G/I).

A coupling is given by two disjoint binary masks over [H, W, C]: the st-network sees only
x * mask_in, and only the positions in mask_out change:

    (s_raw, t) = st(x * mask_in),   s = scale * tanh(s_raw) * mask_out,   t = t * mask_out,
    y = (x + t) * exp(s),   log|det J| = sum s.

Positions outside mask_out pass unchanged, and since mask_in and mask_out are disjoint the
inverse x = y * exp(-s) - t recomputes the same s and t from y * mask_in. Masks:

* checkerboard(parity): mask_in = pixels with (i + j + parity) even, mask_out = the rest;
* channelwise(parity): mask_in = the first half of the channels (parity 0), mask_out = the rest;
* horizontal(parity): mask_in = the top half of the rows (parity 0), mask_out = the bottom;
* quadrant(a, b): mask_in = quadrant a, mask_out = quadrant b, with quadrants numbered
  0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left; the cycle-mask applies
  (0->1), (1->2), (2->3), (3->0), so information from a quadrant needs four layers to come
  back to it.
"""
import numpy as np
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, sum_except_batch
from glow_prior.bijectors.layers import variable

CYCLE = ((0, 1), (1, 2), (2, 3), (3, 0))


def checkerboard(shape, parity):
    height, width, channels = shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    mask_in = ((rows + cols + parity) % 2 == 0).astype(np.float32)
    mask_in = np.repeat(mask_in[..., None], channels, axis=-1)
    return mask_in, 1.0 - mask_in


def channelwise(shape, parity):
    height, width, channels = shape
    if channels < 2:
        raise ValueError("a channel-wise mask needs at least 2 channels")
    mask_in = np.zeros(shape, np.float32)
    half = channels // 2
    mask_in[..., :half] = 1.0
    mask_in = mask_in if parity == 0 else 1.0 - mask_in
    return mask_in, 1.0 - mask_in


def horizontal(shape, parity):
    height = shape[0]
    mask_in = np.zeros(shape, np.float32)
    mask_in[:height // 2] = 1.0
    mask_in = mask_in if parity == 0 else 1.0 - mask_in
    return mask_in, 1.0 - mask_in


def quadrant_mask(shape, index):
    height, width, _ = shape
    if height % 2 or width % 2:
        raise ValueError(f"quadrant masks need even sides, got {height}x{width}")
    top = slice(0, height // 2) if index in (0, 1) else slice(height // 2, height)
    left = slice(0, width // 2) if index in (0, 3) else slice(width // 2, width)
    mask = np.zeros(shape, np.float32)
    mask[top, left] = 1.0
    return mask


def quadrant(shape, source, target):
    return quadrant_mask(shape, source), quadrant_mask(shape, target)


def cycle_masks(shape, n_couplings):
    """The cycle-mask sequence of Kirichenko et al. (Figure 14) for n_couplings layers."""
    return [quadrant(shape, *CYCLE[i % 4]) for i in range(n_couplings)]


class MaskedAffineCoupling(FlowBijector):
    def __init__(self, scope, mask_in, mask_out, st_network):
        super().__init__(name="masked_coupling")
        if np.any(mask_in * mask_out):
            raise ValueError("mask_in and mask_out overlap: the coupling would not be "
                             "invertible")
        self.mask_in = tf.constant(mask_in[None], tf.float32)
        self.mask_out = tf.constant(mask_out[None], tf.float32)
        self.st = st_network
        self.scale = variable(f"{scope}/scale", tf.ones([1, 1, 1, mask_in.shape[-1]]))

    def s_t(self, x):
        """The masked log-scale s and shift t this layer applies to x."""
        s_raw, t = self.st(x * self.mask_in)
        return self.scale * tf.tanh(s_raw) * self.mask_out, t * self.mask_out

    def forward_and_log_det(self, x):
        s, t = self.s_t(x)
        return (x + t) * tf.exp(s), sum_except_batch(s)

    def inverse_and_log_det(self, y):
        s, t = self.s_t(y)
        return y * tf.exp(-s) - t, -sum_except_batch(s)
