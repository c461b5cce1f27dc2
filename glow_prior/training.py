"""The training loop shared by every model (Glow, RealNVP, VAE, tabular flows).

`Trainer` runs OpenAI Glow's procedure (glow_prior.optim: warm-up, Adamax, Polyak average;
a data-dependent actnorm init on `n_batch_init` training images before the first step,
skipped when resuming or when weights were restored) in a locked run directory
(glow_prior.rundir), with these guarantees:

* Resume: checkpoints (model, optimizer, step, Polyak averages, the running statistics of
  the current epoch) are written after the init (ckpt-0), every epoch and every
  `checkpoint_secs`. A rerun resumes from the newest one, mid-epoch included, with the same
  data order and noise (glow_prior.batches), so a killed run ends with the weights and log
  lines of an uninterrupted one. Log lines written after the restored step are dropped.
* What a run is: a rerun whose settings differ from the run directory's record is refused
  (glow_prior.config.run), unless the differing settings are listed in --allow_changes.
* NaN/Inf: a step whose loss or gradients are not finite is not applied. The state kept is
  one whose loss on that batch is finite: the current weights if only the gradients
  overflowed, else the newest checkpoint that passes this check (made the resume point);
  training stops with NonFiniteLossError naming it.
* tf.distribute: the batch is the global batch; each replica gets its slice with its noise
  (the loss does not depend on the number of replicas); the data-dependent init runs once,
  eagerly in cross-replica context, on the same global init batch on every worker. Under
  MultiWorkerMirroredStrategy the chief writes the run directory; other workers write
  their checkpoints to a temporary directory (every worker must take part in saving).
"""
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm import tqdm

from glow_prior import evaluation, files, plots
from glow_prior.batches import Batch, BatchStream, TrainData, paired_negatives
from glow_prior.errors import Interrupted, NonFiniteLossError, RunDirError
from glow_prior.models.base import IMAGES
from glow_prior.models.registry import build_model, load_model
from glow_prior.objectives import MaximumLikelihood, NegativeTraining
from glow_prior.optim import PolyakAverage, make_optimizer
from glow_prior.priors import assign_components
from glow_prior.rundir import RunDir
from glow_prior.summaries import SUMMARY_DIR, Summaries, training_curve
from glow_prior.weights import assign_by_name, values_by_name

# Record keys that depend on the machine, not on the computation.
TIMING_KEYS = ("images_per_s", "seconds")


def is_chief(strategy):
    """True for the process that writes the run directory (always, without multi-worker)."""
    return bool(getattr(strategy.extended, "should_checkpoint", True))


STOP_SIGNALS = {signal.SIGINT: ("interrupted (Ctrl-C)", 130),
                signal.SIGTERM: ("terminated (SIGTERM)", 143)}


class StopRequests:
    """SIGINT and SIGTERM while training (main thread only): the signal is noted and the
    loop checkpoints and stops after the step in progress; a second Ctrl-C interrupts at
    once. The previous handlers come back on exit."""

    def __enter__(self):
        self.received = None
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum, frame):
        del frame
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False


class _StepTimer:
    """Images per second of an epoch's steps, from the end of its first step on (a
    process's first step traces and compiles the step functions: not a steady rate); with
    one step only, that step's."""

    def __init__(self, batch_size):
        self.batch_size = batch_size
        self.started, self.first, self.last, self.steps = time.time(), None, None, 0

    def tick(self):
        """Counts a finished step; returns the rate so far."""
        self.steps += 1
        self.last = time.time()
        self.first = self.first or self.last
        return self.rate()

    def rate(self):
        if self.steps >= 2:
            return (self.steps - 1) * self.batch_size / max(self.last - self.first, 1e-9)
        if self.steps == 1:
            return self.batch_size / max(self.last - self.started, 1e-9)
        return 0.0


def _format_seconds(seconds):
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Trainer:
    """Trains the model `spec` describes on `train_data` into the run directory `run`.

    run: a RunDir (locked by the caller when this process is the chief); run_config: a
    glow_prior.config.RunConfig; objective: MaximumLikelihood or NegativeTraining.
    """

    def __init__(self, spec, run, train_data, run_config, objective, strategy,
                 test_data=None, show_progress=True):
        self.run_dir = run
        self.run_config = run_config
        self.config = spec.training
        self.objective = objective
        self.test_data = test_data
        self.show_progress = show_progress
        self.strategy = strategy
        self.chief = is_chief(strategy)
        self.stream = BatchStream(train_data.arrays(), self.config.n_batch_train,
                                  self.config.seed,
                                  self.config.augment_shift(getattr(spec.data, "dataset", "")),
                                  self.config.perturbation_rate)
        self.plan = run.plan_training(spec, run_config.allow_changes, run_config.resume_from)
        self.spec = self.plan.spec
        with strategy.scope():
            self.model = build_model(self.spec, self.config.mixed_precision,
                                     gradient_checkpointing=self.config.gradient_checkpointing)
            if self.model.dequantized:
                self.stream.noise_fn = self.model.dequantization_noise
            self.optimizer, self.polyak_decay = make_optimizer(self.config,
                                                               self.stream.its_per_epoch)
            if self.config.mixed_precision == "float16":  # float16 gradients need loss scaling
                self.optimizer = tf_keras.mixed_precision.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.polyak = PolyakAverage(self.model.trainable_variables)
        # The running statistics of the current epoch, saved with every checkpoint.
        self.epoch_state = tf.Variable("{}", dtype=tf.string, trainable=False)
        objects = dict(model=self.model, optimizer=self.optimizer, polyak=self.polyak,
                       epoch_state=self.epoch_state)
        self.finished = self._already_trained()
        if self.chief and self.finished is None:
            run.commit(self.plan)
        self.manager = run.checkpoint_manager(**objects)
        self._worker_dir = None if self.chief else tempfile.mkdtemp(prefix="glow_prior_worker")
        self.save_manager = self.manager if self.chief else \
            RunDir(self._worker_dir).checkpoint_manager(**objects)
        self.train_data = train_data
        self._compute = self._apply = None
        self._progress_state = {}

    # ----------------------------------------------------------------- setup
    def _already_trained(self):
        """The sentence saying so when the run has trained more epochs than --epochs asks
        for (nothing to do, and the record keeps its own), else None."""
        trained = self.plan.step // self.stream.its_per_epoch
        if self.plan.checkpoint is None or trained <= self.config.epochs:
            return None
        return (f"{self.run_dir.path} has already trained {trained} epochs, more than "
                f"--epochs={self.config.epochs}: nothing to do (its record is unchanged)")

    def _initialize(self):
        """Resume, restore weights from restore_path, or run the data-dependent init."""
        for note in self.plan.notes:
            self._say(note)
        if self.plan.checkpoint:
            resumed = self.run_dir.restore(self.manager, self.plan.checkpoint, verified=True)
            if self.chief:
                self.run_dir.truncate_logs(self.global_step())
            self._say(f"Resumed from {resumed} (step {self.global_step()})")
            return
        if self.config.restore_path:
            source, _ = load_model(self.config.restore_path)
            assign_by_name(self.model, values_by_name(source),
                           f"--restore_path={self.config.restore_path}")
            self.polyak.copy_from_model()
            self._say(f"Restored weights from {self.config.restore_path}")
        elif self.model.needs_initialization():
            self.model.initialize(self.stream.init_batch(self.config.n_batch_init))
            self.polyak.copy_from_model()
        self._save({})

    def _say(self, text):
        if self.show_progress:
            print(text, flush=True)

    # ----------------------------------------------------------------- steps
    def _replica_gradients(self, batch, seed):
        model, optimizer = self.model, self.optimizer
        variables = model.trainable_variables
        replicas = self.strategy.num_replicas_in_sync
        loss_scaled = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        seed = tf.random.experimental.stateless_fold_in(
            seed, tf.distribute.get_replica_context().replica_id_in_sync_group)
        with tf.GradientTape() as tape:
            loss, stats = self.objective(model, Batch.from_mapping(batch), seed)
            if self.config.l2_regularization > 0:
                loss += self.config.l2_regularization * tf.add_n(
                    [tf.reduce_sum(tf.square(v)) for v in variables])
            scaled = loss / replicas
            if loss_scaled:
                scaled = optimizer.get_scaled_loss(scaled)
        grads = tape.gradient(scaled, variables)
        checked = [loss]
        if loss_scaled:
            # Dynamic loss scaling skips steps with overflowing gradients by itself.
            grads = optimizer.get_unscaled_gradients(grads)
        else:
            checked += [grad for grad in grads if grad is not None]
        # NaN/Inf anywhere makes its zero-weighted sum NaN; finite values give 0 (a float
        # reduction: oneDNN has no boolean kernels without AVX-512 and says so on stderr).
        poison = tf.add_n([tf.reduce_sum(tf.cast(value, tf.float32) * 0.0) for value in checked])
        # The norm of this replica's gradient of the batch loss (the summaries' grad_norm).
        stats = dict(stats, grad_norm=tf.linalg.global_norm(
            [g for g in grads if g is not None]) * replicas)
        return stats, grads, tf.cast(tf.logical_not(tf.math.is_finite(poison)), tf.float32)

    def _replica_apply(self, grads):
        variables = self.model.trainable_variables
        if self.config.weight_decay != 1.0:
            for v in variables:
                v.assign(v * self.config.weight_decay)
        self.optimizer.apply_gradients(zip(grads, variables))
        self.polyak.update(self.polyak_decay)

    def _build_step(self):
        """Two compiled functions: `compute` returns the batch statistics, each replica's
        gradients and whether loss and gradients are finite everywhere; `apply` runs the
        optimizer and the Polyak average. The host applies only finite steps. (A tf.cond
        around apply_gradients would do this in one graph, but MirroredStrategy cannot
        aggregate gradients inside a conditional branch.)"""
        strategy = self.strategy

        @tf.function(jit_compile=self.config.xla or None)
        def compute(batch, step_index):
            stats, grads, failures = strategy.run(
                self._replica_gradients, args=(batch, self.stream.step_seed(step_index)))
            stats = {k: strategy.reduce("MEAN", v, axis=None) for k, v in stats.items()}
            return stats, grads, tf.equal(strategy.reduce("SUM", failures, axis=None), 0.0)

        @tf.function
        def apply(grads):
            strategy.run(self._replica_apply, args=(grads,))

        self._compute, self._apply = compute, apply

    def train_step(self, batch):
        """One optimizer step on a (distributed) batch at the current global step:
        returns (statistics, applied). Not applied when loss or gradients are not finite."""
        if self._compute is None:
            self._build_step()
        step_index = tf.constant(self.global_step(), tf.int64)
        stats, grads, finite = self._compute(batch, step_index)
        if bool(finite):
            self._apply(grads)
        return stats, bool(finite)

    def batch_loss(self, batch):
        """The loss of the current weights on a batch (forward pass only), as a float."""
        stats = self.strategy.run(lambda b: self.objective(
            self.model, Batch.from_mapping(b), tf.constant([0, 0], tf.int64))[1], args=(batch,))
        return float(self.strategy.reduce("MEAN", stats["loss"], axis=None))

    # ------------------------------------------------------------- bookkeeping
    def global_step(self):
        return int(self.optimizer.iterations.numpy())

    def _save(self, progress):
        """Writes a checkpoint; a failed write (disk full, no permission) leaves the previous
        one in place and stops the run with RunDirError saying so."""
        self.epoch_state.assign(json.dumps(progress))
        previous = self.save_manager.latest_checkpoint
        try:
            return self.save_manager.save(checkpoint_number=self.global_step())
        except (OSError, tf.errors.OpError) as error:
            kept = (f"the previous checkpoint {os.path.basename(previous)} is intact and a "
                    "rerun resumes from it") if previous else "no earlier checkpoint exists"
            raise RunDirError(f"could not write a checkpoint in {self.run_dir.path} at step "
                              f"{self.global_step()} ({error}); {kept}") from error

    def _log(self, filename, record):
        if self.chief:
            self.run_dir.append_log(filename, record)

    def evaluate(self):
        """Test-set mean log-likelihood and bits/dim (fixed dequantisation noise)."""
        labels = self.test_data.y if self.model.conditional else None
        scores = evaluation.score(self.model, self.test_data.x, self.config.n_batch_test,
                                  seed=self.config.seed, y=labels)
        return {"test_log_likelihood": float(np.mean(scores.log_likelihood)),
                "test_bits_x": float(np.mean(scores.bits_per_dim))}

    def _write_samples(self, epoch, summaries):
        if not self.model.supports(IMAGES) or not self.config.n_sample or not self.chief:
            return
        images = self.model.sample(self.config.n_sample, seed=[self.config.seed, epoch],
                                   temperature=0.7).numpy()
        path = self.run_dir.file(os.path.join("samples", f"epoch_{epoch:05d}.png"))
        with files.on_user_path(path, "write samples"):
            grid = plots.save_image_grid(images, path)
        summaries.image("samples", grid, epoch)

    def _keep_finite_state(self, batch, step, epoch):
        """After a non-finite step: the state to keep (see the module docstring); returns
        the sentence saying which."""
        current = self.batch_loss(batch)
        if math.isfinite(current):
            saved = self._save(self._progress_state)
            return (f"the weights before it give a finite loss on that batch ({current:.4g}) "
                    f"and are saved in {saved}")
        for path in reversed(self.manager.checkpoints):
            self.run_dir.restore(self.manager, path)
            loss = self.batch_loss(batch)
            if math.isfinite(loss):
                kept = self.manager.checkpoints[:self.manager.checkpoints.index(path) + 1]
                if self.chief:
                    tf.compat.v1.train.update_checkpoint_state(self.run_dir.file("checkpoints"),
                                                               path,
                                                               all_model_checkpoint_paths=kept)
                return (f"the weights after step {step - 1} give a non-finite loss too; the "
                        f"run now resumes from {path} (its loss on that batch is {loss:.4g})")
        return "no saved state gives a finite loss on that batch; start a new run"

    # ------------------------------------------------------------------ loop
    def run(self):
        """Trains until `epochs`, evaluates the test set at the end (and every
        `epochs_full_valid` epochs) and returns the last epoch's record. SIGINT or SIGTERM
        stops it after the step in progress with a checkpoint (glow_prior.errors.Interrupted)."""
        if self.finished:
            self._say(self.finished)
            logged = self.run_dir.read_log("train.txt")
            return logged[-1] if logged else {}
        self._initialize()
        name = os.path.basename(os.path.normpath(self.run_dir.path))
        summaries = Summaries(self.run_dir.file(SUMMARY_DIR), self.spec, name, self.chief,
                              self.run_config.summary_steps)
        record = {}
        with StopRequests() as stop:
            for epoch in range(self.global_step() // self.stream.its_per_epoch + 1,
                               self.config.epochs + 1):
                record = self._train_epoch(epoch, summaries, stop)
                if stop.received:
                    self._stop(stop, epoch)
            record = self._final_evaluation(record, summaries)
        summaries.flush()
        if self.chief:
            curve_path = training_curve(self.run_dir.path, name)
            if curve_path:
                self._say(f"Training curve: {curve_path}")
        return record

    def _train_epoch(self, epoch, summaries, stop):
        """One epoch (from where a resumed run left it): steps, its log lines, samples and
        checkpoint; returns its record. Stops early when a signal arrived."""
        its, epochs = self.stream.its_per_epoch, self.config.epochs
        skip = self.global_step() - (epoch - 1) * its
        state = json.loads(self.epoch_state.numpy().decode() or "{}") if skip else {}
        totals, count = state.get("totals", {}), state.get("count", 0)
        timer = _StepTimer(self.config.n_batch_train)
        last_line, last_save = time.time(), time.time()
        bar = tqdm(total=its, initial=skip, desc=f"epoch {epoch}/{epochs}", leave=False,
                   disable=None if self.show_progress else True, dynamic_ncols=True,
                   file=sys.stdout)
        for batch in self.stream.distributed(self.strategy, epoch, skip):
            step = self.global_step()
            self._progress_state = {"totals": totals, "count": count}
            stats, applied = self.train_step(batch)
            if not applied:
                kept = self._keep_finite_state(batch, step, epoch)
                raise NonFiniteLossError(
                    f"loss or gradients became NaN/Inf at step {step} (epoch {epoch}); "
                    f"the update was not applied and {kept}. Rerun with a lower --lr "
                    "or a longer --epochs_warmup (add --allow_changes=lr or "
                    "--allow_changes=epochs_warmup to change them in this run).")
            values = {key: float(value) for key, value in stats.items()}
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value
            count += 1
            rate = timer.tick()
            if summaries.due(step + 1, last_of_epoch=count == its):
                summaries.train(step + 1, {**values, "images_per_s": rate,
                                           "learning_rate": self._learning_rate()})
            bar.set_postfix(bits=f"{values['bits_x']:.3f}", img_s=f"{rate:.0f}")
            bar.update(1)
            if bar.disable and self.show_progress and \
                    time.time() - last_line > self.run_config.progress_secs:
                print(self._progress_line(epoch, count, totals, rate), flush=True)
                last_line = time.time()
            if stop.received and count < its:
                self._save({"totals": totals, "count": count})
                self._stop(stop, epoch)
            # The epoch's last step is checkpointed after its log line (below): a
            # checkpoint of a finished epoch written before that line would, if the
            # process died in between, resume past an epoch that was never logged.
            if count < its and time.time() - last_save > self.config.checkpoint_secs:
                self._save({"totals": totals, "count": count})
                last_save = time.time()
        bar.close()
        record = {"epoch": epoch, "step": self.global_step(),
                  "images_per_s": timer.rate(),
                  **{k: v / max(count, 1) for k, v in totals.items()}}
        if self.test_data is not None and epoch % self.config.epochs_full_valid == 0:
            record.update(self._test(summaries))
            self._log("test.txt", record)
        self._log("train.txt", record)
        if epoch % self.config.epochs_full_sample == 0 or epoch == epochs:
            self._write_samples(epoch, summaries)
        self._save({})
        self._say(self._epoch_line(record))
        return record

    def _final_evaluation(self, record, summaries):
        """The test evaluation at the end of a run whose last epoch had none."""
        if self.test_data is None:
            return record
        tested = self.run_dir.read_log("test.txt")
        if tested and tested[-1].get("step") == self.global_step():
            return record
        logged = self.run_dir.read_log("train.txt")
        record = dict(record or (logged[-1] if logged else {"step": self.global_step()}))
        record.update(self._test(summaries))
        self._log("test.txt", record)
        self._say(f"test at step {self.global_step()}: test_bits_x="
                  f"{record['test_bits_x']:.4g} test_log_likelihood="
                  f"{record['test_log_likelihood']:.6g}")
        return record

    def _test(self, summaries):
        """Evaluates the test set and writes its test/ summaries; returns the values."""
        values = self.evaluate()
        summaries.test(self.global_step(), values)
        return values

    def _stop(self, stop, epoch):
        """After a signal: the state is checkpointed; raise Interrupted saying where."""
        name, status = STOP_SIGNALS[stop.received]
        latest = self.save_manager.latest_checkpoint
        raise Interrupted(f"training {name} at step {self.global_step()} (epoch {epoch}); "
                          f"{os.path.basename(latest or 'no checkpoint')} holds it: rerun "
                          "the same command to resume", status)

    def _learning_rate(self):
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        return float(optimizer.learning_rate.numpy())

    def _remaining(self, rate):
        left = self.config.epochs * self.stream.its_per_epoch - self.global_step()
        return _format_seconds(left * self.config.n_batch_train / max(rate, 1e-9))

    def _progress_line(self, epoch, count, totals, rate):
        bits = totals.get("bits_x", 0.0) / max(count, 1)
        return (f"progress: epoch {epoch}/{self.config.epochs} step {count}/"
                f"{self.stream.its_per_epoch} bits/dim {bits:.4f} {rate:.0f} img/s "
                f"left {self._remaining(rate)}")

    def _epoch_line(self, record):
        summary = " ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
        return (f"epoch {record['epoch']}/{self.config.epochs}: {summary} "
                f"left={self._remaining(record['images_per_s'])}")

    def close(self):
        if self._worker_dir is not None:
            shutil.rmtree(self._worker_dir, ignore_errors=True)


def train_model(spec, run, run_config, train_set, test_set=None, negatives=None,
                strategy=None, show_progress=True):
    """Trains the model of `spec` on `train_set` (an ImageSet or VectorSet) in `run`.

    Mixture priors get their component assignments here, before training. `negatives`
    (an ImageSet) switches to negative training (spec.negative_training.threshold).
    """
    strategy = strategy or tf.distribute.get_strategy()
    components = assign_components(spec.prior, train_set.x, train_set.y)
    train_data = TrainData(train_set.x, labels=train_set.y, components=components)
    if negatives is None:
        objective = MaximumLikelihood(getattr(spec.architecture, "weight_y", 0.0))
    else:
        objective = NegativeTraining(spec.negative_training.threshold)
        train_data.negatives = paired_negatives(negatives.x, len(train_set),
                                                spec.training.seed)
    trainer = Trainer(spec, run, train_data, run_config, objective, strategy,
                      test_data=test_set, show_progress=show_progress)
    try:
        return trainer.run()
    finally:
        trainer.close()

