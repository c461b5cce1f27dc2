"""Activation normalisation as a bijector (Kingma & Dhariwal 2018, section 3.1).

    z = (x + b) * exp(3 logs),   log|det J| = H * W * sum_c 3 logs_c

with OpenAI's data-dependent init (see glow_prior.bijectors.layers.ActNormLayer).
"""
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector
from glow_prior.bijectors.layers import ActNormLayer


def _log_det(layer, x):
    spatial = tf.cast(tf.reduce_prod(tf.shape(x)[1:-1]), x.dtype)
    log_det = tf.reduce_sum(layer.log_scale(x.dtype)) * spatial
    return tf.fill([tf.shape(x)[0]], log_det)


class ActNorm(FlowBijector):
    def __init__(self, scope, channels, context):
        super().__init__(name="actnorm")
        self.layer = ActNormLayer(scope, channels, context)

    def forward_flat(self, x):
        return self.layer(x), _log_det(self.layer, x)

    def inverse_flat(self, y):
        return self.layer.reverse(y), -_log_det(self.layer, y)
