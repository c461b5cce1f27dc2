"""The training loop shared by every model (Glow, RealNVP, VAE, tabular flows): epochs of
optimizer steps over a deterministic batch stream, from wherever the run left off.

`Trainer` knows steps, epochs and signals, not files: a `recorder` (glow_prior.runs.train
gives one for a run directory) keeps what must survive the process:

* `recorder.save(progress)`: a checkpoint holding the epoch's running statistics;
  `recorder.saved_progress()`: those statistics after a mid-epoch resume;
* `recorder.summarize(step, values, last_of_epoch)`: per-step values (TensorBoard);
* `recorder.end_epoch(record)`: the epoch's record completed (test evaluation) and
  logged, samples, and the epoch's checkpoint, written after its log line (a checkpoint of
  a finished epoch written first would, if the process died in between, resume past an
  epoch that was never logged); returns the record;
* `recorder.keep_finite_state(batch, step, progress)`: after a step whose loss or
  gradients are not finite, keeps a state whose loss on that batch is finite; returns the
  sentence saying which;
* `recorder.latest_checkpoint()`: what a stopped run resumes from;
* `recorder.should_stop()`: after an epoch, whether early stopping ends the run.

A mid-epoch checkpoint is written every `checkpoint_secs`. SIGINT or SIGTERM stops the
loop after the step in progress with a checkpoint (glow_prior.errors.Interrupted); a
non-finite step is never applied (glow_prior.errors.NonFiniteLossError).
"""
import os
import time

from glow_prior.errors import Interrupted, NonFiniteLossError
from glow_prior.training.progress import StepTimer
from glow_prior.training.signals import STOP_SIGNALS, StopRequests

# Record keys that depend on the machine, not on the computation.
TIMING_KEYS = ("images_per_s", "seconds")


class Trainer:
    """step: a glow_prior.training.step.TrainStep; stream: its BatchStream; config: the
    TrainConfig (epochs, n_batch_train, checkpoint_secs); recorder: see the module
    docstring; progress: a glow_prior.training.progress.Progress."""

    def __init__(self, step, stream, strategy, config, recorder, progress):
        self.step, self.stream, self.strategy = step, stream, strategy
        self.config, self.recorder, self.progress = config, recorder, progress

    def train(self):
        """Trains until `config.epochs`; returns the last epoch's record ({} if none ran)."""
        record = {}
        with StopRequests() as stop:
            first = self.step.global_step() // self.stream.its_per_epoch + 1
            for epoch in range(first, self.config.epochs + 1):
                record = self._epoch(epoch, stop)
                if stop.received:
                    self._stop(stop, epoch)
                if self.recorder.should_stop():
                    self.progress.say(f"early stopping after epoch {epoch}: the validation "
                                      f"bits/dim has not improved for "
                                      f"{self.config.early_stopping} evaluations")
                    break
        return record

    def _epoch(self, epoch, stop):
        """One epoch (from where a resumed run left it); returns its record."""
        its = self.stream.its_per_epoch
        skip = self.step.global_step() - (epoch - 1) * its
        state = self.recorder.saved_progress() if skip else {}
        totals, count = state.get("totals", {}), state.get("count", 0)
        timer, last_save = StepTimer(self.config.n_batch_train), time.time()
        self.progress.start_epoch(epoch, skip)
        for batch in self.stream.distributed(self.strategy, epoch, skip):
            step = self.step.global_step()
            stats, applied = self.step(batch)
            if not applied:
                kept = self.recorder.keep_finite_state(batch, step,
                                                       {"totals": totals, "count": count})
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
            self.recorder.summarize(step + 1, {**values, "images_per_s": rate},
                                    last_of_epoch=count == its)
            self.progress.step(epoch, count, totals, values, rate, self.step.global_step())
            if stop.received and count < its:
                self.recorder.save({"totals": totals, "count": count})
                self._stop(stop, epoch)
            if count < its and time.time() - last_save > self.config.checkpoint_secs:
                self.recorder.save({"totals": totals, "count": count})
                last_save = time.time()
        self.progress.close_bar()
        record = self.recorder.end_epoch({
            "epoch": epoch, "step": self.step.global_step(), "images_per_s": timer.rate(),
            **{k: v / max(count, 1) for k, v in totals.items()}})
        self.progress.epoch_line(record)
        return record

    def _stop(self, stop, epoch):
        """After a signal: the state is checkpointed; raise Interrupted saying where."""
        name, status = STOP_SIGNALS[stop.received]
        latest = self.recorder.latest_checkpoint()
        raise Interrupted(f"training {name} at step {self.step.global_step()} (epoch "
                          f"{epoch}); {os.path.basename(latest or 'no checkpoint')} holds it: "
                          "rerun the same command to resume", status)
