"""RealNVP's logit preprocessing (Dinh et al. 2017, section 4.1) as a bijector.

For the flow input x_in in [-0.5, 0.5) (glow_prior.models.quantization), with p = alpha +
(1 - 2 alpha)(x_in + 0.5):

    y = logit(p) = log p - log(1 - p),
    log|dy/dx_in| = log(1 - 2 alpha) - log p - log(1 - p)   per dimension,

all counted in the log-likelihood (no extra log(255/256) term: flows_ood's bias).
"""
import math

import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, sum_except_batch
from glow_prior.errors import InputError


class LogitPreprocess(FlowBijector):
    def __init__(self, alpha=0.05):
        super().__init__(name="logit")
        if not 0 < alpha < 0.5:
            raise InputError(f"logit alpha must be in (0, 0.5), got {alpha}")
        self.alpha = float(alpha)

    def forward_flat(self, x):
        p = self.alpha + (1 - 2 * self.alpha) * (x + 0.5)
        y = tf.math.log(p) - tf.math.log1p(-p)
        per_dim = math.log(1 - 2 * self.alpha) - tf.math.log(p) - tf.math.log1p(-p)
        return y, sum_except_batch(per_dim)

    def inverse_flat(self, y):
        p = tf.sigmoid(y)
        x = (p - self.alpha) / (1 - 2 * self.alpha) - 0.5
        per_dim = math.log(1 - 2 * self.alpha) - tf.math.log(p) - tf.math.log1p(-p)
        return x, -sum_except_batch(per_dim)
