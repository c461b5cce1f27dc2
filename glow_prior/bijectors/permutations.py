"""Channel permutations of a Glow step (OpenAI's flow_permutation 0, 1, 2).

* 0, ReverseChannels: z[..., ::-1] (RealNVP's reversal), log-det 0.
* 1, ShuffleChannels: a fixed random permutation, stored as int32 variables
  `shuffle/indices` and `shuffle/indices_inverse` as in OpenAI's checkpoints.
* 2, Invertible1x1Conv: z <- z W for W [C, C] indexed [in, out] (OpenAI's layout),
  log|det J| = H * W * log|det W|, computed in float64 as OpenAI does; the inverse map
  uses W^-1 inverted in the input's dtype (LU: in float64, as OpenAI's LU code). W starts
  as a random orthogonal matrix (QR of a Gaussian). With `lu=True` the LU parameterisation
  of the Glow paper (section 3.2): W = P (L + I) (U + diag(sign_s exp(log_s))),
  log|det W| = sum log_s.

`AxisInvertible1x1Conv` applies the same matrix product along the height or width axis:
the extra convolutions of Kamoi et al. (2019), Appendix B, Listing 1.
"""
import numpy as np
import scipy.linalg
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, zeros_like_batch
from glow_prior.bijectors.layers import variable


def _random_orthogonal(size, rng):
    return np.linalg.qr(rng.standard_normal((size, size)))[0].astype(np.float32)


def _matmul_last_axis(z, matrix):
    shape = tf.shape(z)
    flat = tf.reshape(z, [-1, matrix.shape[0]])
    return tf.reshape(tf.matmul(flat, matrix), shape)


@tf.custom_gradient
def log_abs_det(matrix):
    """log|det matrix| from a QR factorisation (|det Q| = 1), with the exact gradient
    inv(matrix)^T. tf.linalg.slogdet would do, but XLA cannot compile it."""
    _, upper = tf.linalg.qr(matrix)
    value = tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(upper))))

    def gradient(upstream):
        return upstream * tf.linalg.matrix_transpose(tf.linalg.inv(matrix))

    return value, gradient


def _positions(z):
    """Number of positions a last-axis matrix acts on, per example (product of middle axes)."""
    return tf.cast(tf.reduce_prod(tf.shape(z)[1:-1]), z.dtype)


class ReverseChannels(FlowBijector):
    def __init__(self):
        super().__init__(name="reverse")

    def forward_flat(self, x):
        return x[..., ::-1], zeros_like_batch(x)

    def inverse_flat(self, y):
        return self.forward_flat(y)


class ShuffleChannels(FlowBijector):
    def __init__(self, scope, channels, rng):
        super().__init__(name="shuffle")
        indices = rng.permutation(channels).astype(np.int32)
        self.indices = variable(f"{scope}/shuffle/indices", indices, False, tf.int32)
        self.indices_inverse = variable(f"{scope}/shuffle/indices_inverse",
                                        np.argsort(indices).astype(np.int32), False, tf.int32)

    def forward_flat(self, x):
        return tf.gather(x, self.indices, axis=-1), zeros_like_batch(x)

    def inverse_flat(self, y):
        return tf.gather(y, self.indices_inverse, axis=-1), zeros_like_batch(y)


class _LastAxisMatrix(FlowBijector):
    """z <- z W along the last axis; subclasses define the matrix and its log|det|, each
    in a given dtype."""

    def matrix(self, dtype=tf.float32):
        raise NotImplementedError

    def log_abs_det(self, dtype=tf.float32):
        raise NotImplementedError

    def inverse_matrix(self, dtype=tf.float32):
        """W^-1 in `dtype`, inverted in that dtype (OpenAI's plain invertible_1x1_conv
        inverts W in float32)."""
        return tf.linalg.inv(self.matrix(dtype))

    def forward_flat(self, x):
        log_det = self.log_abs_det(x.dtype) * _positions(x)
        return _matmul_last_axis(x, self.matrix(x.dtype)), tf.fill([tf.shape(x)[0]], log_det)

    def inverse_flat(self, y):
        inverse = self.inverse_matrix(y.dtype)
        log_det = -self.log_abs_det(y.dtype) * _positions(y)
        return _matmul_last_axis(y, inverse), tf.fill([tf.shape(y)[0]], log_det)


class Invertible1x1Conv(_LastAxisMatrix):
    """OpenAI's invertible_1x1_conv (scope .../invconv): plain W, or LU-parameterised."""

    def __init__(self, scope, channels, rng, lu=False):
        super().__init__(name="invconv")
        self.lu = lu
        w_init = _random_orthogonal(channels, rng)
        if not lu:
            self.W = variable(f"{scope}/W", w_init)
            return
        p, lower, upper = scipy.linalg.lu(w_init.astype(np.float64))
        s = np.diag(upper)
        self.P = variable(f"{scope}/P", p.astype(np.float32), trainable=False)
        self.L = variable(f"{scope}/L", lower.astype(np.float32))
        self.sign_S = variable(f"{scope}/sign_S", np.sign(s).astype(np.float32),
                               trainable=False)
        self.log_S = variable(f"{scope}/log_S", np.log(np.abs(s)).astype(np.float32))
        self.U = variable(f"{scope}/U", np.triu(upper, 1).astype(np.float32))
        self._lower_mask = np.tril(np.ones([channels, channels], np.float32), -1)

    def inverse_matrix(self, dtype=tf.float32):
        """W^-1 in `dtype`: as OpenAI's code, the plain W inverted in the input's dtype, the
        LU product inverted in float64 and rounded once (a float32 inversion adds W's
        condition number times float32's round-off to every inverse, which decode and
        backprop by inversion carry)."""
        if not self.lu:
            return super().inverse_matrix(dtype)
        return tf.cast(tf.linalg.inv(self.matrix(tf.float64)), dtype)

    def matrix(self, dtype=tf.float32):
        """W in `dtype`; the LU product is formed in float64, so that log|det W| = sum log_s
        holds to float64 precision."""
        if not self.lu:
            return tf.cast(self.W, dtype)
        mask = tf.constant(self._lower_mask, tf.float64)
        lower = tf.cast(self.L, tf.float64) * mask + tf.eye(self.L.shape[0], dtype=tf.float64)
        upper = (tf.cast(self.U, tf.float64) * tf.transpose(mask)
                 + tf.linalg.diag(tf.cast(self.sign_S, tf.float64)
                                  * tf.exp(tf.cast(self.log_S, tf.float64))))
        return tf.cast(tf.matmul(tf.cast(self.P, tf.float64), tf.matmul(lower, upper)), dtype)

    def log_abs_det(self, dtype=tf.float32):
        """log|det W| in `dtype`, computed in float64 as OpenAI does: sum log_s (LU), or
        from a QR factorisation of W."""
        if self.lu:
            return tf.cast(tf.reduce_sum(tf.cast(self.log_S, tf.float64)), dtype)
        return tf.cast(log_abs_det(tf.cast(self.W, tf.float64)), dtype)


class AxisInvertible1x1Conv(FlowBijector):
    """An invertible 1x1 convolution over the height (axis=1) or width (axis=2) axis.

    Listing 1 of Kamoi et al. transposes the axis to last, applies invertible_1x1_conv and
    transposes back; the matrix acts at every (other spatial, channel) position, so
    log|det J| = (number of those positions) * log|det W|.
    """

    def __init__(self, scope, size, axis, rng, lu=False):
        super().__init__(name=f"invconv_axis{axis}")
        if axis not in (1, 2):
            raise ValueError("axis must be 1 (height) or 2 (width)")
        # Listing 1: perm [0, 3, 2, 1] for height, [0, 1, 3, 2] for width; both self-inverse.
        self.perm = [0, 3, 2, 1] if axis == 1 else [0, 1, 3, 2]
        self.conv = Invertible1x1Conv(scope, size, rng, lu=lu)

    def forward_flat(self, x):
        z, log_det = self.conv.forward_flat(tf.transpose(x, self.perm))
        return tf.transpose(z, self.perm), log_det

    def inverse_flat(self, y):
        x, log_det = self.conv.inverse_flat(tf.transpose(y, self.perm))
        return tf.transpose(x, self.perm), log_det
