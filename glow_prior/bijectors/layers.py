"""Layers of OpenAI Glow's tfops.py, with its parameterisation and variable names.

Conventions (openai/glow tfops.py; docs/openai_glow.md, "Layers"):

* actnorm: y = (x + b) * exp(3 * logs); the stored `logs` is a third of the log-scale
  (logscale_factor 3). Data-dependent init: b = -mean(x), logs = log(1/(std(x)+1e-6))/3,
  statistics over batch and space.
* conv2d: no bias, W ~ N(0, 0.05^2), followed by actnorm (without log-det).
* 3x3 convolutions use "edge padding": the input is zero-padded and gets one extra input
  channel that is 1 on the padded border and 0 inside, then a VALID convolution runs. The
  kernel W therefore has n_in + 1 input channels, the indicator channel last. Because the
  convolution is linear, this equals a SAME convolution of x with W[..., :n_in, :] plus a
  data-independent map (the indicator convolved with W[..., n_in:, :]). We take whichever
  is cheaper: padding the input when it has fewer channels than the output, adding the
  border map to the output otherwise.
* For speed, an actnorm after a convolution is folded into it, (conv(x, W) + b) * s =
  conv(x, W * s) + b * s, with the bias added by tf.nn.bias_add (which TensorFlow can fuse
  with the convolution and a following ReLU); the data-dependent init uses the unfolded
  form, since it needs the convolution's raw output.
* conv2d_zeros / linear_zeros: W, b and logs start at zero; y = (conv(x, W) + b) *
  exp(3 * logs) with logs of shape [1, n_out]. OpenAI reads some of these outputs
  interleaved (h[..., 0::2], h[..., 1::2]); `output_order` permutes W, b and logs at use so
  the layer emits those two groups as halves, the same numbers without strided slices.

Variables carry OpenAI's names (e.g. "model/0/3/f1/l_1/W") so checkpoints map one-to-one.
Every layer takes the model's FlowContext (compute dtype, data-dependent init).
"""
import numpy as np
import tensorflow as tf

from glow_prior.bijectors.base import like

LOGSCALE_FACTOR = 3.0


def variable(name, initial_value, trainable=True, dtype=tf.float32):
    """A tf.Variable with OpenAI's variable `name` (weights are matched by name)."""
    return tf.Variable(initial_value, name=name, trainable=trainable, dtype=dtype)


def deinterleaved(n):
    """Channel order [0, 2, 4, ..., 1, 3, 5, ...]: OpenAI's interleaved pairs as halves."""
    return np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)])


class ActNormLayer(tf.Module):
    """Per-channel affine map (x + b) * exp(3 logs) with data-dependent initialisation."""

    def __init__(self, scope, channels, context):
        super().__init__(name=None)
        self.context = context
        self.b = variable(f"{scope}/actnorm_center/b", tf.zeros([1, 1, 1, channels]))
        self.logs = variable(f"{scope}/actnorm_scale/logs", tf.zeros([1, 1, 1, channels]))

    def log_scale(self, dtype=tf.float32):
        """The per-channel log-scale 3 * logs (OpenAI's logscale_factor), in `dtype`."""
        return tf.cast(self.logs, dtype) * LOGSCALE_FACTOR

    def initialize(self, x):
        """OpenAI's DDI: zero mean and unit variance per channel on this batch."""
        axes = list(range(len(x.shape) - 1))
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        self.b.assign(tf.cast(tf.reshape(-mean, self.b.shape), self.b.dtype))
        variance = tf.reduce_mean(tf.square(x - mean), axis=axes, keepdims=True)
        logs = tf.math.log(1.0 / (tf.sqrt(variance) + 1e-6)) / LOGSCALE_FACTOR
        self.logs.assign(tf.cast(tf.reshape(logs, self.logs.shape), self.logs.dtype))

    def __call__(self, x):
        if self.context.initializing:
            self.initialize(x)
        return (x + like(self.b, x)) * tf.exp(self.log_scale(x.dtype))

    def reverse(self, y):
        """The inverse map: y * exp(-log_scale) - b."""
        return y * tf.exp(-self.log_scale(y.dtype)) - like(self.b, y)


def _edge_indicator(height, width, dtype):
    """[1, H+2, W+2, 1] tensor: 1 on the one-pixel padded border, 0 inside."""
    inside = tf.ones([1, height, width, 1], dtype)
    return 1.0 - tf.pad(inside, [[0, 0], [1, 1], [1, 1], [0, 0]])


def edge_padded_conv(context, x, kernel):
    """OpenAI's add_edge_padding + VALID conv for a 3x3 `kernel` [3, 3, C+1, out]."""
    channels = x.shape[-1]
    kernel = like(kernel, x)
    indicator = _edge_indicator(tf.shape(x)[1], tf.shape(x)[2], x.dtype)
    if channels < kernel.shape[-1]:
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        indicators = tf.repeat(indicator, tf.shape(x)[0], axis=0)
        return context.conv2d(tf.concat([padded, indicators], axis=-1), kernel,
                              padding="VALID")
    data_part = context.conv2d(x, kernel[:, :, :channels, :])
    border = tf.nn.conv2d(indicator, kernel[:, :, channels:, :], strides=1, padding="VALID")
    return data_part + border


def openai_conv(context, x, kernel):
    """A 1x1 convolution, or a 3x3 one with OpenAI's edge padding."""
    if kernel.shape[0] == 1:
        return context.conv2d(x, kernel)
    return edge_padded_conv(context, x, kernel)


def _kernel_shape(filter_size, n_in, n_out):
    edge = 1 if filter_size > 1 else 0
    return [filter_size, filter_size, n_in + edge, n_out]


def conv_then_actnorm(conv, x, kernel, actnorm, bias=None):
    """actnorm(conv(x, kernel) [+ bias]); outside the data-dependent init the actnorm is
    folded into the convolution: (conv(x, W) + b) * s = conv(x, W * s) + b * s."""
    if actnorm.context.initializing:
        y = conv(x, kernel)
        return actnorm(y if bias is None else y + like(bias, y))
    scale = tf.exp(tf.reshape(actnorm.log_scale(x.dtype), [-1]))
    shift = tf.reshape(like(actnorm.b, x), [-1])
    if bias is not None:
        shift = shift + like(bias, x)
    return tf.nn.bias_add(conv(x, like(kernel, x) * scale), shift * scale)


class Conv2dActNorm(tf.Module):
    """tfops.conv2d: bias-free convolution (W ~ N(0, 0.05^2)) followed by actnorm."""

    def __init__(self, scope, n_in, n_out, filter_size, rng, context):
        super().__init__(name=None)
        self.context = context
        shape = _kernel_shape(filter_size, n_in, n_out)
        self.W = variable(f"{scope}/W", rng.normal(0.0, 0.05, shape).astype(np.float32))
        self.actnorm = ActNormLayer(scope, n_out, context)

    def __call__(self, x):
        return conv_then_actnorm(lambda v, w: openai_conv(self.context, v, w), x, self.W,
                                 self.actnorm)


class Conv2dZeros(tf.Module):
    """tfops.conv2d_zeros: (conv(x, W) + b) * exp(3 logs), everything zero-initialised;
    output channels in `output_order` (default: as stored)."""

    def __init__(self, scope, n_in, n_out, context, filter_size=3, output_order=None):
        super().__init__(name=None)
        self.context = context
        self.W = variable(f"{scope}/W", tf.zeros(_kernel_shape(filter_size, n_in, n_out)))
        self.b = variable(f"{scope}/b", tf.zeros([1, 1, 1, n_out]))
        self.logs = variable(f"{scope}/logs", tf.zeros([1, n_out]))
        self._order = None if output_order is None else tf.constant(output_order, tf.int32)

    def _ordered(self, value):
        return value if self._order is None else tf.gather(value, self._order, axis=-1)

    def __call__(self, x):
        scale = tf.exp(self._ordered(tf.reshape(like(self.logs, x), [-1])) * LOGSCALE_FACTOR)
        bias = self._ordered(tf.reshape(like(self.b, x), [-1]))
        return tf.nn.bias_add(openai_conv(self.context, x, self._ordered(like(self.W, x))
                                          * scale), bias * scale)


class LinearZeros(tf.Module):
    """tfops.linear_zeros: (x @ W + b) * exp(3 logs), everything zero-initialised."""

    def __init__(self, scope, n_in, n_out):
        super().__init__(name=None)
        self.W = variable(f"{scope}/W", tf.zeros([n_in, n_out]))
        self.b = variable(f"{scope}/b", tf.zeros([1, n_out]))
        self.logs = variable(f"{scope}/logs", tf.zeros([1, n_out]))

    def __call__(self, x):
        return ((tf.matmul(x, like(self.W, x)) + like(self.b, x))
                * tf.exp(like(self.logs, x) * LOGSCALE_FACTOR))
