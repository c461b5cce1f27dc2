"""Training examples and the deterministic stream of global batches they are served in.

Epoch e visits the examples in a permutation seeded by (seed, e); the batch at global step
t gets augmentation (OpenAI's random shifts, or Ren et al.'s pixel perturbation) and
dequantisation noise seeded by (seed, t). Noise is drawn for the global batch before it is
split across replicas, so a step's loss does not depend on the number of replicas or
workers, and a resumed run (mid-epoch included) continues the same sequence.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models.batch import Batch


# Inputs that get dequantisation noise in the batch, and the field the noise goes to.
NOISE_FIELDS = {"x": "noise", "negatives": "negative_noise"}


@dataclasses.dataclass
class TrainData:
    """Training examples as numpy arrays aligned with x: the Batch fields x, labels,
    components and negatives (the noise fields are drawn per batch)."""

    x: np.ndarray
    labels: np.ndarray = None
    components: np.ndarray = None
    negatives: np.ndarray = None

    def arrays(self):
        """The present fields as {Batch field: array}."""
        return Batch(**dataclasses.asdict(self)).as_mapping()

    def __len__(self):
        return len(self.x)


def perturb_pixels(x_uint8, rate, seed):
    """Ren et al. (2019): each pixel replaced by a uniform random value in 0..255 with
    probability `rate` (the background model's training data)."""
    replace_seed, value_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    replace = tf.random.stateless_uniform(tf.shape(x_uint8), replace_seed) < rate
    values = tf.random.stateless_uniform(tf.shape(x_uint8), value_seed, 0, 256, tf.int32)
    return tf.where(replace, tf.cast(values, x_uint8.dtype), x_uint8)


class BatchStream:
    """Deterministic global batches of `arrays` (see the module docstring)."""

    def __init__(self, arrays, batch_size, seed, augment_shift=0.0, perturbation_rate=0.0,
                 noise_fn=None):
        self.constants = {k: tf.constant(v) for k, v in arrays.items()}
        self.n = len(arrays["x"])
        self.batch_size = min(batch_size, self.n)
        self.its_per_epoch = max(1, self.n // self.batch_size)
        self.seed = seed
        self.augment_shift = augment_shift
        self.perturbation_rate = perturbation_rate
        self.noise_fn = noise_fn

    def step_seed(self, step):
        """The stateless seed (seed, step) of the batch at global step `step`."""
        return tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])

    def batch(self, step, batch_indices):
        """The batch of examples `batch_indices` as served at global step `step`."""
        batch = {k: tf.gather(v, batch_indices) for k, v in self.constants.items()}
        seed = self.step_seed(step)
        if self.augment_shift > 0:
            batch["x"] = preprocess.random_shift(batch["x"], self.augment_shift, seed)
        if self.perturbation_rate > 0:
            batch["x"] = perturb_pixels(batch["x"], self.perturbation_rate,
                                        tf.random.experimental.stateless_fold_in(seed, 99))
        if self.noise_fn is not None:
            for index, (key, noise_key) in enumerate(NOISE_FIELDS.items()):
                if key in batch:
                    noise_seed = tf.random.experimental.stateless_fold_in(seed, index + 1)
                    batch[noise_key] = self.noise_fn(batch[key], noise_seed)
        return batch

    def init_batch(self, size):
        """The data-dependent init's Batch: `size` examples drawn with (seed, 10**6)."""
        n_init = min(size, self.n)
        rng = np.random.default_rng([self.seed, 10 ** 6])
        return Batch.from_mapping(self.batch(
            -1, tf.constant(rng.choice(self.n, n_init, replace=False))))

    def dataset(self, epoch, skip=0):
        """Global batches of `epoch` (1-based), starting after `skip` batches."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        order = order[:self.its_per_epoch * self.batch_size].reshape(self.its_per_epoch, -1)
        first_step = (epoch - 1) * self.its_per_epoch + skip
        steps = tf.data.Dataset.range(first_step, first_step + len(order) - skip)
        indices = tf.data.Dataset.from_tensor_slices(order[skip:])
        return (tf.data.Dataset.zip((steps, indices))
                .map(self.batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2))

    def distributed(self, strategy, epoch, skip=0):
        """The epoch's batches for `strategy`: each replica (on any worker) gets its slice
        of every global batch, replica r the r-th of num_replicas equal slices."""
        replicas = strategy.num_replicas_in_sync
        if replicas == 1:
            return self.dataset(epoch, skip)
        if self.batch_size % replicas:
            raise InputError(f"the batch of {self.batch_size} cannot be split evenly over "
                             f"{replicas} replicas")

        def pipeline(context):
            per_pipeline = replicas // context.num_input_pipelines
            first = context.input_pipeline_id * per_pipeline

            def slices(batch):
                pieces = tf.nest.map_structure(
                    lambda t: tf.reshape(t, [replicas, -1, *t.shape[1:]])
                    [first:first + per_pipeline], batch)
                return tf.data.Dataset.from_tensor_slices(pieces)

            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = \
                tf.data.experimental.AutoShardPolicy.OFF
            return self.dataset(epoch, skip).flat_map(slices).with_options(options)

        return strategy.distribute_datasets_from_function(pipeline)


def paired_negatives(x_ood, n, seed):
    """OOD examples aligned with n training examples (cycled in a seeded random order), so
    every batch carries as many negatives as in-distribution examples."""
    order = np.random.default_rng([seed, 7]).permutation(len(x_ood))
    return x_ood[np.resize(order, n)]
