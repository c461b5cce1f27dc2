"""Coupling layers on vectors: RealNVP's affine coupling with an MLP st-network.

Dinh et al. (2017) as used for tabular data and image embeddings by Kirichenko et al.
(2020, App. K; flows_ood's CouplingLayerTabular) and for the synthetic mixtures of Kamoi et
al. (2019, Section 3.1): with a half mask splitting x into x_id (passed through) and
x_change,

    (s_raw, t) = MLP(x_id),   s = scale * tanh(s_raw),
    y_change = (x_change + t) * exp(s),   log|det J| = sum s.

`parity` chooses which half is x_id (0: the first floor(D/2) features, 1: the rest);
alternating parities are the "alternating masks" of flows_ood and, for an even number of
layers, the same map as Kamoi et al.'s "reverse the features after each layer". The MLP's
output layer starts at zero, so every coupling starts as the identity.
"""
import numpy as np
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, sum_except_batch
from glow_prior.bijectors.layers import variable


def _glorot(rng, n_in, n_out):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)


class MLP(tf.Module):
    """Dense ReLU network; the last layer is zero-initialised."""

    def __init__(self, scope, n_in, hidden_layers, hidden_units, n_out, rng):
        super().__init__(name=None)
        sizes = [n_in] + [hidden_units] * hidden_layers
        self.weights = [variable(f"{scope}/dense{i}/W", _glorot(rng, a, b))
                        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
        self.biases = [variable(f"{scope}/dense{i}/b", tf.zeros([b]))
                       for i, b in enumerate(sizes[1:])]
        self.out_w = variable(f"{scope}/out/W", tf.zeros([sizes[-1], n_out]))
        self.out_b = variable(f"{scope}/out/b", tf.zeros([n_out]))

    def __call__(self, x):
        for w, b in zip(self.weights, self.biases):
            x = tf.nn.relu(tf.matmul(x, w) + b)
        return tf.matmul(x, self.out_w) + self.out_b


class VectorAffineCoupling(FlowBijector):
    def __init__(self, scope, num_dims, parity, hidden_layers, hidden_units, rng):
        super().__init__(name="vector_coupling", forward_min_event_ndims=1)
        if num_dims < 2:
            raise ValueError("coupling layers need at least 2 features")
        half = num_dims // 2
        self.id_slice = slice(0, half) if parity == 0 else slice(half, num_dims)
        self.change_slice = slice(half, num_dims) if parity == 0 else slice(0, half)
        self.parity = parity
        n_id = half if parity == 0 else num_dims - half
        n_change = num_dims - n_id
        self.nn = MLP(f"{scope}/st", n_id, hidden_layers, hidden_units, 2 * n_change, rng)
        self.scale = variable(f"{scope}/scale", tf.ones([n_change]))

    def _s_t(self, x_id):
        h = self.nn(x_id)
        n_change = h.shape[-1] // 2
        return self.scale * tf.tanh(h[:, :n_change]), h[:, n_change:]

    def _join(self, x_id, x_change):
        parts = [x_id, x_change] if self.parity == 0 else [x_change, x_id]
        return tf.concat(parts, axis=-1)

    def forward_and_log_det(self, x):
        x_id, x_change = x[:, self.id_slice], x[:, self.change_slice]
        s, t = self._s_t(x_id)
        return self._join(x_id, (x_change + t) * tf.exp(s)), sum_except_batch(s)

    def inverse_and_log_det(self, y):
        y_id, y_change = y[:, self.id_slice], y[:, self.change_slice]
        s, t = self._s_t(y_id)
        return self._join(y_id, y_change * tf.exp(-s) - t), -sum_except_batch(s)
