"""Glow's channel-split coupling layers (OpenAI model.py, revnet2d_step).

With z1 = z[..., :C/2], z2 = z[..., C/2:] and h = NN(z1):

* additive (flow_coupling=0): z2 <- z2 + h, h with C/2 channels; log-det 0.
* affine (flow_coupling=1): h has C channels, shift = h[..., 0::2] (interleaved),
  scale = sigmoid(h[..., 1::2] + 2) + scale_offset, z2 <- (z2 + shift) * scale and
  log|det J| = sum log(scale). OpenAI uses scale_offset 0; Kamoi et al. (2019, App. B,
  after openai/glow issue #40) add 0.1, which bounds the scale below and keeps the
  reverse pass z2 / scale finite.

The output is concat([z1, z2]); z1 passes unchanged.
"""
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, sum_except_batch
from glow_prior.bijectors.layers import GlowCouplingNet


def _halves(z):
    half = z.shape[-1] // 2
    return z[..., :half], z[..., half:]


class AdditiveCoupling(FlowBijector):
    def __init__(self, scope, channels, width, rng):
        super().__init__(name="additive_coupling")
        half = channels // 2
        self.nn = GlowCouplingNet(f"{scope}/f1", half, width, channels - half, rng)

    def forward_and_log_det(self, x):
        z1, z2 = _halves(x)
        z2 = z2 + self.nn(z1)
        return tf.concat([z1, z2], axis=-1), tf.zeros([tf.shape(x)[0]], x.dtype)

    def inverse_and_log_det(self, y):
        z1, z2 = _halves(y)
        z2 = z2 - self.nn(z1)
        return tf.concat([z1, z2], axis=-1), tf.zeros([tf.shape(y)[0]], y.dtype)


class AffineCoupling(FlowBijector):
    def __init__(self, scope, channels, width, rng, scale_offset=0.0):
        super().__init__(name="affine_coupling")
        if channels % 2:
            raise ValueError(f"affine coupling needs an even channel count, got {channels}")
        self.nn = GlowCouplingNet(f"{scope}/f1", channels // 2, width, channels, rng)
        self.scale_offset = float(scale_offset)

    def shift_and_scale(self, z1):
        h = self.nn(z1)
        return h[..., 0::2], tf.sigmoid(h[..., 1::2] + 2.0) + self.scale_offset

    def forward_and_log_det(self, x):
        z1, z2 = _halves(x)
        shift, scale = self.shift_and_scale(z1)
        z2 = (z2 + shift) * scale
        return tf.concat([z1, z2], axis=-1), sum_except_batch(tf.math.log(scale))

    def inverse_and_log_det(self, y):
        z1, z2 = _halves(y)
        shift, scale = self.shift_and_scale(z1)
        z2 = z2 / scale - shift
        return tf.concat([z1, z2], axis=-1), -sum_except_batch(tf.math.log(scale))
