"""The one seed convention: every `seed` argument is an int or a pair of ints.

An int s means the stateless seed pair (s, 0); a pair (or an int tensor of shape [2]) is
used as it is. The same seed always gives the same numbers (TensorFlow's stateless random
ops), unlike TFP's stateful int seeds. Where a seed may be left out (`sample`), None means
fresh randomness, as in TFP: a new pair drawn from TensorFlow's global random state
(`fresh_seed`; tf.random.set_seed makes that sequence repeatable).
"""
import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.errors import InputError


def seed_pair(seed, dtype=tf.int64):
    """The stateless seed [2] of `seed` (an int, a pair, or a tensor of either)."""
    if seed is None:
        raise InputError("a seed is needed here: pass an int or a pair of ints")
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise InputError(f"a seed is an int or a pair of ints, got {seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    elif seed.shape.as_list() != [2]:
        raise InputError(f"a seed is an int or a pair of ints, got shape {seed.shape}")
    return tf.cast(seed, dtype)


def tfp_seed(seed):
    """The pair as TFP's samplers take it (int32, each entry reduced modulo 2**31)."""
    return tf.cast(tf.math.floormod(seed_pair(seed), 2 ** 31), tf.int32)


def fold_in(seed, data):
    """A new pair from `seed` and an integer `data` (tf.random.experimental.stateless_fold_in)."""
    return tf.random.experimental.stateless_fold_in(seed_pair(seed), data)


def fresh_seed():
    """A new stateless seed pair (int64) from TensorFlow's global random state: different
    on every call, eagerly or inside a tf.function (TFP's sanitize_seed(None))."""
    return tf.cast(tfp.random.sanitize_seed(None), tf.int64)
