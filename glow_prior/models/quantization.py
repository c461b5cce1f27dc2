"""Pixels and the flow's continuous input, as in OpenAI Glow (train.py / model.py).

For uint8 pixels x and n_bins = 2**n_bits_x, OpenAI's `preprocess` and dequantisation are

    x_n   = floor(x / 2**(8 - n_bits_x))          (only when n_bits_x < 8)
    x_in  = x_n / n_bins - 0.5 + u,   u ~ U[0, 1/n_bins)^D,

so x_in lies in [-0.5, 0.5). The flow models the density of x_in; the log-likelihood of the
discrete image in OpenAI's convention is log p(x_in) - D log(n_bins) (nats): the affine map
v = x_n + n_bins u -> x_in has log|det| = -D log(n_bins), so this is the density of the
dequantised pixels v in [0, n_bins)^D. bits/dim = -log-likelihood / (D ln 2).
"""
import tensorflow as tf


def n_bins(n_bits_x):
    """2**n_bits_x, the number of pixel bins."""
    return 2 ** int(n_bits_x)


def quantize(x_uint8, n_bits_x, dtype=tf.float32):
    """uint8 pixels -> bin index in [0, n_bins) as `dtype` (OpenAI's bit reduction)."""
    x = tf.cast(x_uint8, dtype)
    if n_bits_x < 8:
        x = tf.floor(x / 2 ** (8 - n_bits_x))
    return x


def to_flow_input(x_uint8, n_bits_x, noise=None, dtype=tf.float32):
    """x_n / n_bins - 0.5 + noise: the continuous input of the flow, in [-0.5, 0.5)."""
    x = quantize(x_uint8, n_bits_x, dtype) / n_bins(n_bits_x) - 0.5
    return x if noise is None else x + tf.cast(noise, dtype)


def uniform_noise(shape, n_bits_x, seed, dtype=tf.float32):
    """Dequantisation noise U[0, 1/n_bins), stateless: the same seed gives the same noise."""
    return tf.random.stateless_uniform(shape, seed, 0.0, 1.0 / n_bins(n_bits_x), dtype=dtype)


def bin_centres(shape, n_bits_x, dtype=tf.float32):
    """Noise of half a bin: x_in = x_n / n_bins - 0.5 + 1 / (2 n_bins), each pixel at its bin's
    centre, the input whose inverse image floors back to x even after float rounding."""
    return tf.fill(shape, tf.constant(0.5 / n_bins(n_bits_x), dtype))


def postprocess(x, n_bits_x):
    """Flow space -> uint8 pixels: clip(floor((x + .5) * n_bins) * 256 / n_bins) (any float
    dtype)."""
    bins = n_bins(n_bits_x)
    pixels = tf.floor((x + 0.5) * bins) * (256.0 / bins)
    return tf.cast(tf.clip_by_value(pixels, 0, 255), tf.uint8)
