"""Images in: validation, image archives, resizing and augmentation (OpenAI Glow's
train.py). The pixels' quantisation into the flow's continuous input is the models' part
(glow_prior.models.quantization)."""
import os
import zipfile

import numpy as np
import tensorflow as tf

from glow_prior.errors import InputError


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
