"""The training loop shared by every model (Glow, RealNVP, VAE, tabular flows).

OpenAI Glow's schedule (train.py / optim.py): learning rate linearly warmed up from 0 over
`epochs_warmup` epochs, Adamax (default) or Adam with beta2 = 1 - 1/(its_per_epoch *
polyak_epochs), the same beta2 as the decay of a Polyak average of the weights, multiplicative
weight decay (1.0 = off), and a data-dependent actnorm init on `n_batch_init` training
images before the first step (skipped when resuming or when weights were restored).

Differences from OpenAI, on purpose:
* tf_keras' Adamax/Adam are used; OpenAI's hand-written Adamax additionally multiplies the
  step by sqrt(1 - beta2^t), a slower start on top of the warm-up.
* Checkpoints (model, optimizer, step, Polyak averages) are written every epoch and every
  `checkpoint_secs`, not only when the test loss improves; a killed run resumes from the
  newest one, mid-epoch included, with the same data order (batches are drawn from a
  permutation seeded by (seed, epoch)) and the same dequantisation noise (seeded by
  (seed, step)).
* A step whose loss or gradients are not finite is not applied; the last good state is
  saved and training stops with an error naming the step.

Under a tf.distribute strategy the batch is the global batch, split across replicas; the
data-dependent init runs once, eagerly in cross-replica context, so every replica's actnorm
gets the statistics of the same global init batch.
"""
import dataclasses
import json
import math
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm import tqdm

from glow_prior import distribute, evaluation, plots, runs
from glow_prior.bijectors.layers import set_mixed_precision
from glow_prior.data import preprocess
from glow_prior.objectives import MaximumLikelihood, NegativeTraining


class NonFiniteLossError(FloatingPointError):
    """The loss or a gradient became NaN/Inf; the last good state is in the checkpoint."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping settings (OpenAI train.py names where they exist)."""

    n_batch_train: int = 64
    n_batch_test: int = 50
    n_batch_init: int = 256
    optimizer: str = "adamax"
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = -1.0  # < 0: OpenAI's 1 - 1/(its_per_epoch * polyak_epochs)
    polyak_epochs: float = 1.0
    weight_decay: float = 1.0
    epochs: int = 1000000
    epochs_warmup: float = 10.0
    epochs_full_valid: int = 50
    epochs_full_sample: int = 50
    dal: float = 0.0
    seed: int = 0
    checkpoint_secs: float = 600.0
    xla: bool = False
    strategy: str = "default"
    restore_path: str = ""
    n_sample: int = 16
    adamw_weight_decay: float = 0.0
    negative_threshold: float = -30000.0
    devices: tuple = ()
    mixed_precision: str = "none"

    def validate(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got '{self.optimizer}'")
        if self.n_batch_train < 1 or self.lr <= 0 or self.epochs < 1:
            raise ValueError("n_batch_train, lr and epochs must be positive")


OPTIMIZERS = ("adamax", "adam", "adamw", "rmsprop")


class WarmupSchedule(tf_keras.optimizers.schedules.LearningRateSchedule):
    """OpenAI's lr_t = lr * min(1, n_processed / (n_train * epochs_warmup))."""

    def __init__(self, lr, warmup_steps):
        self.lr = float(lr)
        self.warmup_steps = float(warmup_steps)

    def __call__(self, step):
        if self.warmup_steps <= 0:
            return tf.constant(self.lr)
        fraction = tf.cast(step + 1, tf.float32) / self.warmup_steps
        return self.lr * tf.minimum(1.0, fraction)

    def get_config(self):
        return {"lr": self.lr, "warmup_steps": self.warmup_steps}


def make_optimizer(config, its_per_epoch):
    """(optimizer, Polyak decay); both use OpenAI's beta2 unless config.beta2 is set."""
    beta2 = 1.0 - 1.0 / (its_per_epoch * config.polyak_epochs)
    if config.beta2 >= 0:
        beta2 = config.beta2
    schedule = WarmupSchedule(config.lr, config.epochs_warmup * its_per_epoch)
    common = dict(learning_rate=schedule, beta_1=config.beta1, beta_2=beta2, epsilon=1e-8)
    if config.optimizer == "adamw":
        return tf_keras.optimizers.AdamW(weight_decay=config.adamw_weight_decay,
                                         **common), beta2
    if config.optimizer == "rmsprop":
        return tf_keras.optimizers.RMSprop(learning_rate=schedule), beta2
    cls = tf_keras.optimizers.Adamax if config.optimizer == "adamax" else \
        tf_keras.optimizers.Adam
    return cls(**common), beta2


@dataclasses.dataclass
class TrainData:
    """Training examples: `x` (uint8 images or float vectors), optional labels `y`, prior
    components `component`, and `extra` arrays aligned with x (e.g. x_ood)."""

    x: np.ndarray
    y: np.ndarray = None
    component: np.ndarray = None
    extra: dict = dataclasses.field(default_factory=dict)

    def arrays(self):
        arrays = {"x": self.x, **self.extra}
        if self.y is not None:
            arrays["y"] = self.y
        if self.component is not None:
            arrays["component"] = self.component
        return arrays

    def __len__(self):
        return len(self.x)


# Inputs that get dequantisation noise in the batch, and the key the noise goes to.
NOISE_KEYS = {"x": "noise", "x_ood": "noise_ood"}


class BatchStream:
    """Deterministic global batches.

    Epoch e visits the examples in a permutation seeded by (seed, e); the batch at global
    step t gets augmentation and dequantisation noise seeded by (seed, t). Noise is part of
    the batch, so a strategy splitting the batch across replicas splits the noise with it:
    the loss of a step does not depend on the number of replicas.
    """

    def __init__(self, arrays, batch_size, seed, augment_shift=0.0, noise_fn=None):
        self.constants = {k: tf.constant(v) for k, v in arrays.items()}
        self.n = len(arrays["x"])
        self.batch_size = min(batch_size, self.n)
        self.its_per_epoch = max(1, self.n // self.batch_size)
        self.seed = seed
        self.augment_shift = augment_shift
        self.noise_fn = noise_fn

    def step_seed(self, step):
        return tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])

    def _batch(self, step, batch_indices):
        batch = {k: tf.gather(v, batch_indices) for k, v in self.constants.items()}
        seed = self.step_seed(step)
        if self.augment_shift > 0:
            batch["x"] = preprocess.random_shift(batch["x"], self.augment_shift, seed)
        if self.noise_fn is not None:
            for index, (key, noise_key) in enumerate(NOISE_KEYS.items()):
                if key in batch:
                    noise_seed = tf.random.experimental.stateless_fold_in(seed, index + 1)
                    batch[noise_key] = self.noise_fn(batch[key], noise_seed)
        return batch

    def dataset(self, epoch, skip=0):
        """Batches of `epoch` (1-based), starting after `skip` batches."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        order = order[:self.its_per_epoch * self.batch_size].reshape(self.its_per_epoch, -1)
        first_step = (epoch - 1) * self.its_per_epoch + skip
        steps = tf.data.Dataset.range(first_step, first_step + len(order) - skip)
        indices = tf.data.Dataset.from_tensor_slices(order[skip:])
        return (tf.data.Dataset.zip((steps, indices))
                .map(self._batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2))


def _sample_grid_path(logdir, epoch):
    return os.path.join(logdir, "samples", f"epoch_{epoch:05d}.png")


class Trainer:
    """Trains the model described by `hparams` into `logdir`, resuming if possible."""

    def __init__(self, hparams, logdir, train_data, config, objective, test_data=None,
                 show_progress=True):
        config.validate()
        self.hparams = hparams
        self.logdir = logdir
        self.config = config
        self.objective = objective
        self.test_data = test_data
        self.show_progress = show_progress
        self.strategy = distribute.make_strategy(config.strategy, list(config.devices) or None)
        set_mixed_precision(config.mixed_precision)
        self.stream = BatchStream(train_data.arrays(), config.n_batch_train, config.seed,
                                  config.dal)
        self._check_run_dir()
        with self.strategy.scope():
            self.model = runs.build_model(hparams)
            if getattr(self.model, "dequantized", False):
                self.stream.noise_fn = self.model.dequantization_noise
            self.optimizer, self.polyak_decay = make_optimizer(config, self.stream.its_per_epoch)
            if config.mixed_precision == "float16":  # float16 gradients need loss scaling
                self.optimizer = tf_keras.mixed_precision.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.polyak = runs.PolyakAverage(self.model.trainable_variables)
        self.manager = runs.checkpoint_manager(logdir, model=self.model,
                                               optimizer=self.optimizer, polyak=self.polyak)
        self.train_data = train_data
        self._step_fn = None

    # ----------------------------------------------------------------- setup
    def _check_run_dir(self):
        """A logdir holding checkpoints of a different model is refused (resuming it with
        other settings would mix two runs); one without checkpoints is taken over."""
        path = os.path.join(self.logdir, runs.HPARAMS_FILE)
        has_checkpoint = runs.checkpoint_manager(self.logdir).latest_checkpoint is not None
        if os.path.exists(path) and has_checkpoint:
            existing = runs.read_hparams(self.logdir)
            for key in ("model", "architecture", "prior"):
                if existing.get(key) != json.loads(json.dumps(self.hparams.get(key))):
                    raise runs.RunDirError(
                        f"{self.logdir} holds a run with different '{key}' settings "
                        f"({existing.get(key)}); use a new --logdir or the same flags")
        runs.write_hparams(self.logdir, self.hparams)

    def _initialize(self):
        """Resume, restore weights from restore_path, or run the data-dependent init."""
        resumed = runs.restore_latest(self.manager, self.logdir)
        if resumed:
            print(f"Resumed from {resumed} (step {self._global_step()})", flush=True)
            return
        if self.config.restore_path:
            source, _ = runs.load_model(self.config.restore_path)
            for target, value in zip(self.model.variables, source.variables):
                target.assign(value)
            self.polyak.copy_from_model()
            print(f"Restored weights from {self.config.restore_path}", flush=True)
            return
        if not self.model.initialized.numpy():
            n_init = min(self.config.n_batch_init, len(self.train_data))
            rng = np.random.default_rng([self.config.seed, 10 ** 6])
            index = rng.choice(len(self.train_data), n_init, replace=False)
            batch = self.stream._batch(-1, tf.constant(index))  # pylint: disable=protected-access
            self.model.initialize_from_batch(batch)
            self.polyak.copy_from_model()

    # ----------------------------------------------------------------- steps
    def _build_step(self):
        """step(batch, step_index) -> (stats, applied).

        Two compiled functions: `compute` returns the loss statistics, each replica's
        gradients and whether loss and gradients are finite on every replica; `apply` runs
        the optimizer and the Polyak average. The host applies only finite steps, so a
        NaN/Inf leaves the weights and optimizer state as they were. (A tf.cond around
        apply_gradients would do this inside one graph, but MirroredStrategy cannot
        aggregate gradients inside a conditional branch.)
        """
        model, optimizer, objective = self.model, self.optimizer, self.objective
        strategy, variables = self.strategy, model.trainable_variables
        replicas = strategy.num_replicas_in_sync
        weight_decay = self.config.weight_decay
        polyak, decay = self.polyak, self.polyak_decay
        loss_scaled = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)

        def replica_gradients(batch, seed):
            seed = tf.random.experimental.stateless_fold_in(
                seed, tf.distribute.get_replica_context().replica_id_in_sync_group)
            with tf.GradientTape() as tape:
                loss, stats = objective(model, batch, seed)
                scaled = loss / replicas
                if loss_scaled:
                    scaled = optimizer.get_scaled_loss(scaled)
            grads = tape.gradient(scaled, variables)
            finite = tf.math.is_finite(loss)
            if loss_scaled:
                # Dynamic loss scaling skips steps with overflowing gradients by itself.
                grads = optimizer.get_unscaled_gradients(grads)
            else:
                for grad in grads:
                    if grad is not None:
                        finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(grad)))
            return stats, grads, tf.cast(tf.logical_not(finite), tf.float32)

        @tf.function(jit_compile=self.config.xla or None)
        def compute(batch, step_index):
            stats, grads, failures = strategy.run(
                replica_gradients, args=(batch, self.stream.step_seed(step_index)))
            stats = {k: strategy.reduce("MEAN", v, axis=None) for k, v in stats.items()}
            return stats, grads, tf.equal(strategy.reduce("SUM", failures, axis=None), 0.0)

        def replica_apply(grads):
            if weight_decay != 1.0:
                for v in variables:
                    v.assign(v * weight_decay)
            optimizer.apply_gradients(zip(grads, variables))
            polyak.update(decay)

        @tf.function
        def apply(grads):
            strategy.run(replica_apply, args=(grads,))

        def step(batch, step_index):
            stats, grads, finite = compute(batch, step_index)
            if bool(finite):
                apply(grads)
            return stats, finite

        return step

    # ------------------------------------------------------------------ loop
    def _global_step(self):
        return int(self.optimizer.iterations.numpy())

    def _save(self):
        return self.manager.save(checkpoint_number=self._global_step())

    def _log(self, filename, record):
        with open(os.path.join(self.logdir, filename), "a") as f:
            f.write(json.dumps(record) + "\n")

    def evaluate(self):
        """Test-set mean log-likelihood and bits/dim (fixed dequantisation noise)."""
        labels = self.test_data.y if self.model.conditional else None
        scores = evaluation.score(self.model, self.test_data.x, self.config.n_batch_test,
                                  seed=self.config.seed, y=labels)
        return {"test_log_likelihood": float(np.mean(scores.log_likelihood)),
                "test_bits_x": float(np.mean(scores.bits_per_dim))}

    def _write_samples(self, epoch, writer):
        if not hasattr(self.model, "sample"):
            return
        images = self.model.sample(self.config.n_sample, tf.constant([self.config.seed, epoch]),
                                   temperature=0.7).numpy()
        if images.ndim != 4:
            return
        path = _sample_grid_path(self.logdir, epoch)
        grid = plots.save_image_grid(images, path)
        with writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch)

    def run(self):
        """Trains until `epochs`; returns the last epoch's statistics."""
        self._initialize()
        if self._step_fn is None:
            self._step_fn = self._build_step()
        its = self.stream.its_per_epoch
        writer = tf.summary.create_file_writer(os.path.join(self.logdir, "tensorboard"))
        start_step = self._global_step()
        record = {}
        last_save = time.time()
        for epoch in range(start_step // its + 1, self.config.epochs + 1):
            skip = self._global_step() - (epoch - 1) * its
            dataset = self.strategy.experimental_distribute_dataset(
                self.stream.dataset(epoch, skip))
            totals, count, started = {}, 0, time.time()
            bar = tqdm(total=its, initial=skip, desc=f"epoch {epoch}", leave=False,
                       disable=None if self.show_progress else True, dynamic_ncols=True)
            for batch in dataset:
                step_index = tf.constant(self._global_step(), tf.int64)
                stats, applied = self._step_fn(batch, step_index)
                if not bool(applied):
                    saved = self._save()
                    raise NonFiniteLossError(
                        f"loss or gradients became NaN/Inf at step {int(step_index)} (epoch "
                        f"{epoch}); the update was not applied and the last good state is "
                        f"saved in {saved}. Lower --lr or raise --epochs_warmup.")
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + float(value)
                count += 1
                rate = count * self.config.n_batch_train / (time.time() - started)
                bar.set_postfix(bits=f"{float(stats['bits_x']):.3f}", img_s=f"{rate:.0f}")
                bar.update(1)
                if time.time() - last_save > self.config.checkpoint_secs:
                    self._save()
                    last_save = time.time()
            bar.close()
            record = {"epoch": epoch, "step": self._global_step(),
                      "images_per_s": count * self.config.n_batch_train /
                      max(time.time() - started, 1e-9),
                      **{k: v / max(count, 1) for k, v in totals.items()}}
            if self.test_data is not None and epoch % self.config.epochs_full_valid == 0:
                record.update(self.evaluate())
                self._log("test.txt", record)
            self._log("train.txt", record)
            with writer.as_default():
                for key, value in record.items():
                    if key not in ("epoch", "step"):
                        tf.summary.scalar(key, value, step=epoch)
            if epoch % self.config.epochs_full_sample == 0 or epoch == self.config.epochs:
                self._write_samples(epoch, writer)
            self._save()
            last_save = time.time()
            if self.show_progress:
                summary = " ".join(f"{k}={v:.4g}" for k, v in record.items()
                                   if isinstance(v, float))
                print(f"epoch {epoch}: {summary}", flush=True)
        writer.flush()
        return record


def run_hparams(model_kind, architecture, prior, data, train, data_kind="images"):
    """The hparams dict of a run (what glow_prior.runs.build_model reads back)."""
    return {"model": model_kind, "architecture": dataclasses.asdict(architecture),
            "prior": dataclasses.asdict(prior), "data": dataclasses.asdict(data),
            "data_kind": data_kind, "training": dataclasses.asdict(train)}


def paired_negatives(x_ood, n, seed):
    """OOD examples aligned with n training examples (cycled in a seeded random order), so
    every batch carries as many negatives as in-distribution examples."""
    order = np.random.default_rng([seed, 7]).permutation(len(x_ood))
    return x_ood[np.resize(order, n)]


def train_model(model_kind, architecture, prior, data, train, logdir, train_set,
                test_set=None, show_progress=True, data_kind="images", negatives=None):
    """Trains a model on `train_set` (an ImageSet or VectorSet) into `logdir`.

    Mixture priors get their component assignments here, before training. `negatives`
    (an ImageSet, with train.negative_threshold) switches to negative training.
    """
    components = prior.assign(train_set.x, train_set.y)
    hparams = run_hparams(model_kind, architecture, prior, data, train, data_kind)
    train_data = TrainData(train_set.x, train_set.y, components)
    if negatives is None:
        objective = MaximumLikelihood(getattr(architecture, "weight_y", 0.0))
    else:
        objective = NegativeTraining(train.negative_threshold)
        train_data.extra["x_ood"] = paired_negatives(negatives.x, len(train_set), train.seed)
        hparams["negative_training"] = {"dataset": negatives.name,
                                        "threshold": train.negative_threshold}
    trainer = Trainer(hparams, logdir, train_data, train, objective, test_data=test_set,
                      show_progress=show_progress)
    return trainer.run()
