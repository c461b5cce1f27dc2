"""Pixel preprocessing as in OpenAI Glow (train.py / model.py), plus input validation.

For uint8 pixels x and n_bins = 2**n_bits_x, OpenAI's `preprocess` and dequantisation are

    x_n   = floor(x / 2**(8 - n_bits_x))          (only when n_bits_x < 8)
    x_in  = x_n / n_bins - 0.5 + u,   u ~ U[0, 1/n_bins)^D,

so x_in lies in [-0.5, 0.5). The flow models the density of x_in; the log-likelihood of the
discrete image in OpenAI's convention is log p(x_in) - D log(n_bins) (nats), and
bits/dim = -log-likelihood / (D ln 2).
"""
import os
import zipfile

import numpy as np
import tensorflow as tf

from glow_prior.errors import InputError


def n_bins(n_bits_x):
    return 2 ** int(n_bits_x)


def check_uint8_images(x, expected_shape=None, what="images"):
    """Raises InputError naming the problem unless `x` is uint8 NHWC of `expected_shape`."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or tf.as_dtype(dtype) != tf.uint8:
        raise InputError(f"{what} must be uint8 pixels in 0..255, got dtype {dtype}")
    shape = tuple(x.shape)
    if len(shape) != 4:
        raise InputError(f"{what} must be a batch of images [N, H, W, C], got shape {shape}")
    if expected_shape is not None and tuple(shape[1:]) != tuple(expected_shape):
        raise InputError(f"{what} have shape {tuple(shape[1:])} per image but the model "
                         f"expects {tuple(expected_shape)}")


def read_image_archive(path):
    """(x, y or None) from an .npz with images under 'x' (and labels under 'y'); anything
    else (a missing, empty or damaged file, a directory, a .npy array, pickles) is one
    InputError naming the file."""
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise InputError(f"image file {path} {what}; give an .npz file with the images "
                         "under 'x'")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"cannot read {path} as an .npz archive ({error or 'empty file'}); "
                         "save the images with np.savez(path, x=images)") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise InputError(f"{path} holds a single array (.npy format), not an .npz archive; "
                         "save the images with np.savez(path, x=images)")
    with loaded as archive:
        if "x" not in archive.files:
            raise InputError(f"{path} has no array 'x' (keys: {list(archive.files)})")
        try:
            return archive["x"], archive["y"] if "y" in archive.files else None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise InputError(f"cannot read the arrays of {path}: {error}") from error


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


def resize_images(x, image_size):
    """Pads (OpenAI's MNIST 'minimum' padding) or average-pools square images to image_size.

    image_size <= 0 keeps the native size. Downsampling needs an integer factor and floors
    the average like OpenAI's loader.
    """
    size = x.shape[1]
    if image_size is None or image_size <= 0 or image_size == size:
        return x
    if x.shape[1] != x.shape[2]:
        raise InputError(f"image_size applies to square images, got {x.shape[1:3]}")
    if image_size > size:
        before = (image_size - size) // 2
        pad = ((0, 0), (before, image_size - size - before),
               (before, image_size - size - before), (0, 0))
        return np.pad(x, pad, mode="minimum")
    factor = size // image_size
    if factor * image_size != size:
        raise InputError(f"cannot downsample {size}x{size} images to {image_size}x"
                         f"{image_size}: the size must divide {size}")
    pooled = x.reshape(len(x), image_size, factor, image_size, factor, x.shape[3])
    return np.floor(pooled.astype(np.float64).mean(axis=(2, 4))).astype(np.uint8)


def random_shift(x_uint8, fraction, seed):
    """OpenAI's `--dal 1` augmentation: random width/height shifts of up to `fraction`.

    Keras' ImageDataGenerator (used by OpenAI) shifts by a uniform real offset with bilinear
    interpolation and nearest fill, then the loader floors to uint8; this does the same with
    tf.raw_ops.ImageProjectiveTransformV3 on a batch, one offset per image.
    """
    x = tf.cast(x_uint8, tf.float32)
    batch = tf.shape(x)[0]
    size = tf.cast(tf.shape(x)[1:3], tf.float32)
    offsets = tf.random.stateless_uniform([batch, 2], seed, -fraction, fraction) * size
    ones, zeros = tf.ones([batch]), tf.zeros([batch])
    # Projective transform mapping output (x, y) to input (x + dx, y + dy).
    transforms = tf.stack([ones, zeros, offsets[:, 1], zeros, ones, offsets[:, 0],
                           zeros, zeros], axis=1)
    shifted = tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=tf.shape(x)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    return tf.cast(tf.clip_by_value(tf.floor(shifted), 0, 255), tf.uint8)
