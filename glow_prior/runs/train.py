"""Training a model into a run directory: what train_glow, train_realnvp, train_vae,
train_tabular and glow_prior.train do.

`train_run` takes the model's settings (config objects, or a model built in Python with
glow_prior.models.registry) and the data (a named dataset's config, or the user's arrays:
glow_prior.data.arrays) and trains in the run directory, in this order: the tf.distribute
strategy (multi-worker collectives must exist before any other TensorFlow work), the run
directory's lock, the data, the record, then `RunTrainer`.

`RunTrainer` runs OpenAI Glow's procedure (glow_prior.training: warm-up, Adamax, Polyak
average; a data-dependent actnorm init on `n_batch_init` training examples before the
first step, skipped when resuming or when weights were restored) with these guarantees:

* Resume: checkpoints (glow_prior.runs.checkpoints) are written after the init (ckpt-0),
  every epoch and every `checkpoint_secs`. A rerun resumes from the newest one, mid-epoch
  included, with the same data order and noise (glow_prior.training.batches), so a killed
  run ends with the weights and log lines of an uninterrupted one. Log lines written after
  the restored step are dropped.
* What a run is: a rerun whose settings differ from the run directory's record is refused
  (glow_prior.config.run), unless the differing settings are listed in allow_changes; the
  fingerprint of in-memory data is one of those settings.
* NaN/Inf: a step whose loss or gradients are not finite is not applied. The state kept is
  one whose loss on that batch is finite: the current weights if only the gradients
  overflowed, else the newest checkpoint that passes this check (made the resume point);
  training stops with NonFiniteLossError naming it.
* tf.distribute: the batch is the global batch; each replica gets its slice with its noise
  (the loss does not depend on the number of replicas); the data-dependent init runs once,
  eagerly in cross-replica context, on the same global init batch on every worker. Under
  MultiWorkerMirroredStrategy the chief writes the run directory.
* The record (glow_prior.runs.recorder): train.txt / test.txt (one JSON line per epoch),
  TensorBoard summaries, samples, training_curve.png; a test evaluation at the end of
  every run. With `validation_fraction`, a seeded part of the training examples is held
  out: its bits/dim is evaluated every `epochs_full_valid` epochs, the best checkpoint by
  it is kept in checkpoints/best, and `early_stopping` stops a run whose validation
  bits/dim has not improved for that many evaluations.
"""
import os

import numpy as np
import tensorflow as tf
import tf_keras

from glow_prior import data as datasets
from glow_prior.config import ArraysConfig, RunSpec, TabularDataConfig
from glow_prior.config.training import IN_MEMORY_PREFIX
from glow_prior.data import arrays
from glow_prior.data.components import assign_components
from glow_prior.data.tabular import load_tabular
from glow_prior.errors import InputError
from glow_prior.models.registry import build_model, kind_of
from glow_prior.models.weights import assign_by_name, values_by_name
from glow_prior.runs.checkpoints import RunCheckpoints
from glow_prior.runs.recorder import RunRecorder, stopped_early
from glow_prior.runs.load import load_model
from glow_prior.runs.rundir import RunDir
from glow_prior.runs.summaries import SUMMARY_DIR, Summaries, training_curve
from glow_prior.training import distribute
from glow_prior.training.batches import BatchStream, TrainData, paired_negatives
from glow_prior.training.loop import Trainer
from glow_prior.training.objectives import MaximumLikelihood, NegativeTraining
from glow_prior.training.optim import PolyakAverage, make_optimizer
from glow_prior.training.progress import Progress
from glow_prior.training.step import TrainStep


def is_chief(strategy):
    """True for the process that writes the run directory (always, without multi-worker)."""
    return bool(getattr(strategy.extended, "should_checkpoint", True))


class RunTrainer:
    """Trains the model `spec` describes on `train_data` (a TrainData) into the run
    directory `run` (a RunDir, locked by the caller when this process is the chief);
    run_config: a glow_prior.config.RunConfig; objective: MaximumLikelihood or
    NegativeTraining; model: a model built in Python to train instead of building one from
    `spec` (its settings must be the spec's); validation_data: examples held out from
    training (TrainConfig.validation_fraction), or None."""

    def __init__(self, spec, run, train_data, run_config, objective, strategy,
                 test_data=None, show_progress=True, model=None, validation_data=None):
        self.run_dir, self.run_config, self.config = run, run_config, spec.training
        self.test_data, self.validation_data, self.strategy = test_data, validation_data, strategy
        self.chief = is_chief(strategy)
        self.stream = BatchStream(train_data.arrays(), self.config.n_batch_train,
                                  self.config.seed,
                                  self.config.augment_shift(getattr(spec.data, "dataset", "")),
                                  self.config.perturbation_rate)
        self.plan = run.plan_training(spec, run_config.allow_changes, run_config.resume_from)
        self.spec = self.plan.spec
        with strategy.scope():
            self.model = model or build_model(
                self.spec, self.config.mixed_precision,
                gradient_checkpointing=self.config.gradient_checkpointing)
            if self.model.dequantized:
                self.stream.noise_fn = self.model.dequantization_noise
            self.optimizer, polyak_decay = make_optimizer(self.config, self.stream.its_per_epoch)
            if self.config.mixed_precision == "float16":  # float16 gradients need loss scaling
                self.optimizer = tf_keras.mixed_precision.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.polyak = PolyakAverage(self.model.trainable_variables)
        self.finished = self._already_trained()
        if self.chief and self.finished is None:
            run.commit(self.plan)
        self.checkpoints = RunCheckpoints(run, self.chief, model=self.model,
                                          optimizer=self.optimizer, polyak=self.polyak)
        self.step = TrainStep(self.model, objective, self.optimizer, self.polyak, polyak_decay,
                              self.config, strategy, self.stream.step_seed)
        self.progress = Progress(self.config.epochs, self.stream.its_per_epoch,
                                 self.config.n_batch_train, show_progress,
                                 run_config.progress_secs)

    @property
    def manager(self):
        """The run's CheckpointManager."""
        return self.checkpoints.manager

    def global_step(self):
        """The optimizer's step count."""
        return self.step.global_step()

    def train_step(self, batch):
        """One optimizer step (glow_prior.training.step.TrainStep)."""
        return self.step(batch)

    # ----------------------------------------------------------------------- the run
    def run(self):
        """Trains until `epochs`, evaluates the test set at the end (and every
        `epochs_full_valid` epochs) and returns the last epoch's record. SIGINT or SIGTERM
        stops it after the step in progress with a checkpoint (glow_prior.errors.Interrupted)."""
        if self.finished:
            self.progress.say(self.finished)
            logged = self.run_dir.read_log("train.txt")
            return logged[-1] if logged else {}
        self._initialize()
        name = os.path.basename(os.path.normpath(self.run_dir.path))
        summaries = Summaries(self.run_dir.file(SUMMARY_DIR), self.spec, name, self.chief,
                              self.run_config.summary_steps)
        recorder = RunRecorder(self.run_dir, self.chief, self.checkpoints, self.step,
                               self.config, self.test_data, summaries, self.progress,
                               self.validation_data)
        record = Trainer(self.step, self.stream, self.strategy, self.config, recorder,
                         self.progress).train()
        record = recorder.final_evaluation(record)
        summaries.flush()
        if self.chief:
            curve_path = training_curve(self.run_dir.path, name)
            if curve_path:
                self.progress.say(f"Training curve: {curve_path}")
        return record

    def _already_trained(self):
        """The sentence saying so when the run has trained more epochs than --epochs asks
        for, or stopped early (nothing to do, and the record keeps its own), else None."""
        trained = self.plan.step // self.stream.its_per_epoch
        if self.plan.checkpoint is None:
            return None
        logged = self.run_dir.read_log("train.txt")
        if stopped_early(logged, self.config.early_stopping):
            return (f"{self.run_dir.path} stopped early after epoch {logged[-1]['epoch']} "
                    f"(no better validation bits/dim for {self.config.early_stopping} "
                    "evaluations): nothing to do")
        if trained <= self.config.epochs:
            return None
        return (f"{self.run_dir.path} has already trained {trained} epochs, more than "
                f"--epochs={self.config.epochs}: nothing to do (its record is unchanged)")

    def _initialize(self):
        """Resume, restore weights from restore_path, or run the data-dependent init."""
        for note in self.plan.notes:
            self.progress.say(note)
        if self.plan.checkpoint:
            resumed = self.checkpoints.restore(self.plan.checkpoint, verified=True)
            if self.chief:
                self.run_dir.truncate_logs(self.global_step())
            self.progress.say(f"Resumed from {resumed} (step {self.global_step()})")
            return
        if self.config.restore_path:
            source, _ = load_model(self.config.restore_path)
            assign_by_name(self.model, values_by_name(source),
                           f"--restore_path={self.config.restore_path}")
            self.polyak.copy_from_model()
            self.progress.say(f"Restored weights from {self.config.restore_path}")
        elif self.model.needs_initialization():
            self.model.initialize(self.stream.init_batch(self.config.n_batch_init))
            self.polyak.copy_from_model()
        self.checkpoints.save({}, self.global_step())

    def close(self):
        """Removes temporary files (a non-chief worker's checkpoints)."""
        self.checkpoints.close()


def train_model(spec, run, run_config, train_set, test_set=None, negatives=None,
                strategy=None, show_progress=True, model=None, components=None):
    """Trains the model of `spec` (or `model`) on `train_set` (examples with .x and .y) in
    `run`; returns the last epoch's record.

    Mixture priors get their component assignments here, before training, unless given
    (`components`). `negatives` (examples with .x) switches to negative training
    (spec.negative_training.threshold).
    """
    strategy = strategy or tf.distribute.get_strategy()
    validation = None
    if spec.training.validation_fraction > 0:
        if components is not None:
            train_set = arrays.Examples(train_set.x, train_set.y, components)
        train_set, validation = arrays.validation_split(
            train_set, spec.training.validation_fraction, spec.training.seed)
        components = train_set.components
    if components is None:
        components = assign_components(spec.prior, train_set.x, train_set.y)
    train_data = TrainData(train_set.x, labels=train_set.y, components=components)
    if negatives is None:
        objective = MaximumLikelihood(getattr(spec.architecture, "weight_y", 0.0))
    else:
        objective = NegativeTraining(spec.negative_training.threshold)
        train_data.negatives = paired_negatives(negatives.x, len(train_set),
                                                spec.training.seed)
    trainer = RunTrainer(spec, run, train_data, run_config, objective, strategy,
                         test_data=test_set, show_progress=show_progress, model=model,
                         validation_data=validation)
    try:
        return trainer.run()
    finally:
        trainer.close()


def _named_data(data_config, negative):
    """(train, test, negatives or None) of a named dataset (a DataConfig or a
    TabularDataConfig) and the negative-training set it names."""
    if isinstance(data_config, TabularDataConfig):
        splits = load_tabular(data_config)
        train, test = splits.train, splits.test
    else:
        train, test = datasets.load_train_test(data_config)
    negatives = None
    if negative.active:
        negatives = datasets.ood_split(negative.dataset, data_config, "train",
                                       shape=train.x.shape[1:])
    return train, test, negatives


def _float32_vectors(examples):
    """Training computes in float32: vectors of another precision are converted."""
    if examples is not None and not examples.images:
        examples.x = examples.x.astype(np.float32)
    return examples


def _in_memory_data(source):
    """(ArraysConfig, train, test or None, negatives or None) of TrainingData in memory."""
    train = _float32_vectors(arrays.examples(source.train, source.labels, source.components,
                                             source.name, "training data"))
    test = None
    if source.test is not None:
        test = _float32_vectors(arrays.examples(source.test, source.test_labels,
                                                name=source.name, what="test data"))
        if test.x.shape[1:] != train.x.shape[1:] or test.x.dtype != train.x.dtype:
            raise InputError(f"the test examples ({test.x.dtype} {test.x.shape[1:]}) are not "
                             f"like the training examples ({train.x.dtype} "
                             f"{train.x.shape[1:]})")
    negatives = None if source.negatives is None else _float32_vectors(arrays.examples(
        source.negatives, what="negative-training examples"))
    record = ArraysConfig(
        name=source.name,
        fingerprint=arrays.fingerprint(train.x, train.y, train.components),
        test_fingerprint="" if test is None else arrays.fingerprint(test.x, test.y),
        n_examples=len(train), example_shape=tuple(int(d) for d in train.x.shape[1:]))
    return record, train, test, negatives


class TrainingData:
    """The data of a training run: `config`, a named dataset (DataConfig or
    TabularDataConfig: its train and test splits are loaded by name), or in-memory
    examples `train` (glow_prior.data.arrays) with optional labels, components, test
    examples and negative-training examples."""

    def __init__(self, config=None, train=None, labels=None, components=None, test=None,
                 test_labels=None, negatives=None, name="arrays"):
        if (config is None) == (train is None):
            raise InputError("give the training data either as a dataset config (DataConfig, "
                             "TabularDataConfig) or as arrays / a tf.data.Dataset")
        self.config, self.train, self.labels, self.components = config, train, labels, components
        self.test, self.test_labels, self.negatives, self.name = test, test_labels, negatives, name


def _spec_and_data(architecture, prior, source, training, negative):
    """(RunSpec, train, test, negatives, components or None)."""
    if source.config is not None:
        train, test, negatives = _named_data(source.config, negative)
        record, components = source.config, None
    else:
        record, train, test, negatives = _in_memory_data(source)
        components = train.components
        if negatives is not None:
            negative = negative.replace(
                dataset=IN_MEMORY_PREFIX + arrays.fingerprint(negatives.x))
    n_classes = int(train.y.max()) + 1 if len(train.y) else 1
    kind = kind_of(architecture)
    spec = RunSpec(model=kind, architecture=architecture.for_data(train.x.shape[1:], n_classes),
                   prior=prior, data=record, training=training, negative_training=negative)
    return spec, train, test, negatives, components


def train_run(architecture, prior, source, training, negative, run_config,
              show_progress=True, model=None):
    """Trains into run_config.logdir and returns the last epoch's record (see the module
    docstring). architecture / prior / training / negative: config objects; source: a
    TrainingData; model: a model built in Python, trained instead of a new one."""
    strategy = distribute.make_strategy(training.strategy, list(training.devices) or None)
    if model is not None and strategy is not tf.distribute.get_strategy():
        raise InputError(f"a model built in Python trains with the default strategy; for "
                         f"--strategy={training.strategy} pass its config instead")
    run = RunDir(run_config.logdir)
    if is_chief(strategy):
        run.lock()
    try:
        spec, train, test, negatives, components = _spec_and_data(
            architecture, prior, source, training, negative)
        return train_model(spec, run, run_config, train, test, negatives, strategy,
                           show_progress, model, components)
    finally:
        run.close()
