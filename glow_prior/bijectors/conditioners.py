"""Conditioner networks of coupling layers: the part that reads the unchanged input.

Each maps the conditioning input (and, for Glow's class-conditional top prior, labels y) to
the raw parameters `h` an inner transform reads (glow_prior.bijectors.couplings):

* GlowCouplingNet: OpenAI's f() (scope .../f1): relu(conv3x3) -> relu(conv1x1) ->
  conv2d_zeros 3x3, convolutions with actnorm and edge padding (glow_prior.bijectors.layers);
* ResNetST: the st-network of RealNVP couplings (Kirichenko et al. 2020, App. C): 3x3 conv
  to `width` channels, `blocks` residual blocks (ReLU, 3x3 conv, ReLU, 3x3 conv, + identity),
  ReLU and a zero-initialised 3x3 conv to 2C outputs [s_raw | t]. Every hidden conv is
  followed by an actnorm with data-dependent initialisation where flows_ood uses batch
  normalisation: train- and test-mode likelihoods stay identical (their issue #5). With
  `bottleneck` = l > 0 (their ResNetAE), the blocks have no identity skips and the features
  after blocks // 2 blocks are flattened, projected to l dimensions and back (their
  "bottleneck dimension l", App. I.2);
* MLP: dense ReLU layers with a zero-initialised output layer [s_raw | t] (tabular flows,
  Kirichenko et al. App. K);
* SplitPrior / TopPrior: OpenAI's learned priors as conditioners: conv2d_zeros of the kept
  half (split2d_prior), or of zeros plus linear_zeros(onehot(y)) (prior with learntop /
  ycond), read as (mean, logsd).

Every network ends in a zero-initialised layer, so every coupling starts as the identity
(or, for the priors, as a standard normal).
"""
import numpy as np
import tensorflow as tf

from glow_prior.bijectors.base import like
from glow_prior.bijectors.layers import (
    ActNormLayer,
    Conv2dActNorm,
    Conv2dZeros,
    LinearZeros,
    conv_then_actnorm,
    deinterleaved,
    variable,
)
from glow_prior.errors import InputError


class GlowCouplingNet(tf.Module):
    """OpenAI's f(); with `interleaved_pairs`, l_last's interleaved output pairs
    (shift = h[..., 0::2], scale = h[..., 1::2]) are emitted as halves."""

    def __init__(self, scope, n_in, width, n_out, rng, context, interleaved_pairs=False):
        super().__init__(name=None)
        self.l_1 = Conv2dActNorm(f"{scope}/l_1", n_in, width, 3, rng, context)
        self.l_2 = Conv2dActNorm(f"{scope}/l_2", width, width, 1, rng, context)
        self.l_last = Conv2dZeros(f"{scope}/l_last", width, n_out, context,
                                  output_order=deinterleaved(n_out) if interleaved_pairs
                                  else None)

    def __call__(self, x, labels=None):
        del labels
        return self.l_last(tf.nn.relu(self.l_2(tf.nn.relu(self.l_1(x)))))


class SplitPrior(tf.Module):
    """split2d_prior: h = conv2d_zeros(z1) with (mean, logsd) interleaved, emitted as halves."""

    def __init__(self, scope, n_in, n_out, context):
        super().__init__(name=None)
        self.conv = Conv2dZeros(f"{scope}/conv", n_in, n_out, context,
                                output_order=deinterleaved(n_out))

    def __call__(self, x, labels=None):
        del labels
        return self.conv(x)


class TopPrior(tf.Module):
    """Glow's top prior: h = zeros [B, h, w, 2C], then conv2d_zeros (learntop) and
    + linear_zeros(onehot(y)) (ycond); mean = h[..., :C], logsd = h[..., C:]."""

    def __init__(self, shape, context, learntop, ycond, n_y, scope="model"):
        super().__init__(name=None)
        channels = shape[-1]
        self.shape = tuple(shape)
        self.n_y = n_y
        self.conv = Conv2dZeros(f"{scope}/prior/p", 2 * channels, 2 * channels, context) \
            if learntop else None
        self.y_emb = LinearZeros(f"{scope}/prior/y_emb", n_y, 2 * channels) if ycond else None

    def __call__(self, x, labels=None):
        channels = self.shape[-1]
        h = tf.zeros([tf.shape(x)[0], *self.shape[:2], 2 * channels], x.dtype)
        if self.conv is not None:
            h = self.conv(h)
        if self.y_emb is not None:
            if labels is None:
                raise InputError("this model is class-conditional (ycond): pass labels")
            onehot = tf.one_hot(tf.cast(labels, tf.int32), self.n_y, dtype=x.dtype)
            h += tf.reshape(self.y_emb(onehot), [-1, 1, 1, 2 * channels])
        return h


class _ConvActNorm(tf.Module):
    """3x3 conv (SAME, with bias) followed by actnorm (RealNVP's st-network layers)."""

    def __init__(self, scope, n_in, n_out, rng, context):
        super().__init__(name=None)
        self.context = context
        self.W = variable(f"{scope}/W", rng.normal(0.0, 0.05, [3, 3, n_in, n_out])
                          .astype(np.float32))
        self.b = variable(f"{scope}/b", tf.zeros([n_out]))
        self.actnorm = ActNormLayer(scope, n_out, context)

    def __call__(self, x):
        return conv_then_actnorm(self.context.conv2d, x, self.W, self.actnorm, bias=self.b)


class ResNetST(tf.Module):
    def __init__(self, scope, shape, width, blocks, rng, context, bottleneck=0):
        super().__init__(name=None)
        height, image_width, channels = shape
        self.context = context
        self.conv_in = _ConvActNorm(f"{scope}/in", channels, width, rng, context)
        self.blocks = [(_ConvActNorm(f"{scope}/block{i}/a", width, width, rng, context),
                        _ConvActNorm(f"{scope}/block{i}/b", width, width, rng, context))
                       for i in range(blocks)]
        self.bottleneck_at = blocks // 2 if bottleneck else None
        if bottleneck:
            flat = height * image_width * width
            self.down = variable(f"{scope}/bottleneck/down", rng.normal(
                0, np.sqrt(1.0 / flat), [flat, bottleneck]).astype(np.float32))
            self.up = variable(f"{scope}/bottleneck/up", rng.normal(
                0, np.sqrt(1.0 / bottleneck), [bottleneck, flat]).astype(np.float32))
        self.W_out = variable(f"{scope}/out/W", tf.zeros([3, 3, width, 2 * channels]))
        self.b_out = variable(f"{scope}/out/b", tf.zeros([2 * channels]))

    def _squeeze_through_bottleneck(self, h):
        shape = tf.shape(h)
        flat = tf.reshape(h, [shape[0], -1])
        return tf.reshape(tf.matmul(tf.matmul(flat, like(self.down, h)), like(self.up, h)),
                          shape)

    def __call__(self, x, labels=None):
        del labels
        h = self.conv_in(x)
        for index, (first, second) in enumerate(self.blocks):
            if index == self.bottleneck_at:
                h = self._squeeze_through_bottleneck(h)
            residual = second(tf.nn.relu(first(tf.nn.relu(h))))
            h = residual if self.bottleneck_at is not None else h + residual
        return tf.nn.bias_add(self.context.conv2d(tf.nn.relu(h), self.W_out),
                              like(self.b_out, h))


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

    def __call__(self, x, labels=None):
        del labels
        for w, b in zip(self.weights, self.biases):
            x = tf.nn.relu(tf.matmul(x, like(w, x)) + like(b, x))
        return tf.matmul(x, like(self.out_w, x)) + like(self.out_b, x)
