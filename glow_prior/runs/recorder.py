"""What a training run leaves in its run directory while it trains: the training loop's
recorder (glow_prior.training.loop).

* checkpoints (glow_prior.runs.checkpoints), with the epoch's running statistics;
* train.txt and test.txt: one JSON line per epoch (OpenAI's ResultLogger style), test
  evaluations every `epochs_full_valid` epochs and at the end of the run;
* TensorBoard summaries (glow_prior.runs.summaries) and samples every `epochs_full_sample`
  epochs;
* after a non-finite step: a state whose loss on that batch is finite (the current weights
  if only the gradients overflowed, else the newest checkpoint that passes, made the resume
  point);
* with a validation set (TrainConfig.validation_fraction): its bits/dim every
  `epochs_full_valid` epochs in train.txt (valid_bits_x), the checkpoint with the best of
  them in checkpoints/best, and the early-stopping decision (no improvement for
  `early_stopping` evaluations), taken from train.txt, so a resumed run decides as an
  uninterrupted one.
Only the chief process writes; other workers' checkpoints go to a temporary folder.
"""
import os

import numpy as np

from glow_prior import files
from glow_prior.models.base import IMAGES
from glow_prior.models.scoring import score
from glow_prior.reports import plots


def validation_history(records):
    """The validation bits/dim of the logged epochs that have one, in order."""
    return [record["valid_bits_x"] for record in records if "valid_bits_x" in record]


def stopped_early(records, patience):
    """Whether the last `patience` validation evaluations of the logged epochs `records`
    brought no improvement on the best before them."""
    history = validation_history(records)
    if not patience or len(history) <= patience:
        return False
    return min(history[-patience:]) >= min(history[:-patience])


class RunRecorder:
    """run: the RunDir; chief: whether this process writes it; checkpoints: its
    RunCheckpoints; step: the TrainStep (global step, batch loss); config: the
    TrainConfig; test_data: examples with .x and .y, or None; summaries: the run's
    Summaries; progress: its Progress display."""

    def __init__(self, run, chief, checkpoints, step, config, test_data, summaries, progress,
                 validation_data=None):
        self.run, self.chief, self.checkpoints, self.step = run, chief, checkpoints, step
        self.config, self.test_data, self.validation_data = config, test_data, validation_data
        self.summaries, self.progress = summaries, progress

    def save(self, progress):
        """A checkpoint at the current step with the epoch's running statistics `progress`."""
        return self.checkpoints.save(progress, self.step.global_step())

    def saved_progress(self):
        """The epoch's running statistics of the restored checkpoint."""
        return self.checkpoints.saved_progress()

    def latest_checkpoint(self):
        """The checkpoint a stopped run resumes from."""
        return self.checkpoints.latest()

    def summarize(self, step, values, last_of_epoch):
        """Writes a step's train/ scalars (and the learning rate) when they are due."""
        if self.summaries.due(step, last_of_epoch):
            self.summaries.train(step, {**values, "learning_rate": self.step.learning_rate()})

    def end_epoch(self, record):
        """Test evaluation (every epochs_full_valid epochs), log lines, samples, and the
        epoch's checkpoint, in that order (glow_prior.training.loop)."""
        epoch = record["epoch"]
        due = epoch % self.config.epochs_full_valid == 0
        improved = False
        if self.validation_data is not None and due:
            record.update(self._evaluate(self.validation_data, "valid"))
            improved = record["valid_bits_x"] < min(self._validation_history(),
                                                    default=float("inf"))
        if self.test_data is not None and due:
            record.update(self._test())
            self._log("test.txt", record)
        self._log("train.txt", record)
        if improved:
            self.checkpoints.save_best(self.step.global_step())
        if epoch % self.config.epochs_full_sample == 0 or epoch == self.config.epochs:
            self._write_samples(epoch)
        self.save({})
        return record

    def should_stop(self):
        """Whether the validation bits/dim has not improved for `early_stopping`
        evaluations (the decision is read from train.txt)."""
        return stopped_early(self.run.read_log("train.txt"), self.config.early_stopping)

    def _validation_history(self):
        return validation_history(self.run.read_log("train.txt"))

    def keep_finite_state(self, batch, step, progress):
        """After a non-finite step: the state to keep (see the module docstring); returns
        the sentence saying which."""
        current = self.step.batch_loss(batch)
        if np.isfinite(current):
            saved = self.save(progress)
            return (f"the weights before it give a finite loss on that batch ({current:.4g}) "
                    f"and are saved in {saved}")
        return self.checkpoints.rewind_to_finite(lambda: self.step.batch_loss(batch), step)

    def final_evaluation(self, record):
        """The test evaluation at the end of a run whose last epoch had none."""
        if self.test_data is None:
            return record
        step = self.step.global_step()
        tested = self.run.read_log("test.txt")
        if tested and tested[-1].get("step") == step:
            return record
        logged = self.run.read_log("train.txt")
        record = dict(record or (logged[-1] if logged else {"step": step}))
        record.update(self._test())
        self._log("test.txt", record)
        self.progress.say(f"test at step {step}: test_bits_x={record['test_bits_x']:.4g} "
                          f"test_log_likelihood={record['test_log_likelihood']:.6g}")
        return record

    def _log(self, filename, record):
        if self.chief:
            self.run.append_log(filename, record)

    def _test(self):
        """Test-set mean log-likelihood and bits/dim (fixed dequantisation noise), also
        written to the test/ summaries."""
        values = self._evaluate(self.test_data, "test")
        self.summaries.test(self.step.global_step(), values)
        return values

    def _evaluate(self, examples, prefix):
        """{prefix_log_likelihood, prefix_bits_x}: mean log-likelihood and bits/dim of the
        examples (fixed dequantisation noise)."""
        model = self.step.model
        labels = examples.y if model.conditional else None
        scores = score(model, examples.x, self.config.n_batch_test, seed=self.config.seed,
                       y=labels)
        return {f"{prefix}_log_likelihood": float(np.mean(scores.log_likelihood)),
                f"{prefix}_bits_x": float(np.mean(scores.bits_per_dim))}

    def _write_samples(self, epoch):
        model = self.step.model
        if not model.supports(IMAGES) or not self.config.n_sample or not self.chief:
            return
        images = model.sample(self.config.n_sample, seed=[self.config.seed, epoch],
                              temperature=0.7).numpy()
        path = self.run.file(os.path.join("samples", f"epoch_{epoch:05d}.png"))
        with files.on_user_path(path, "write samples"):
            grid = plots.save_image_grid(images, path)
        self.summaries.image("samples", grid, epoch)
