"""The checkpoints a training process writes into its run directory.

A checkpoint holds the model, the optimizer, the Polyak averages and the running statistics
of the current epoch (so a run killed mid-epoch resumes with the same epoch record). Under
MultiWorkerMirroredStrategy every worker must take part in saving: the chief writes the run
directory, the other workers a temporary directory removed at the end.
"""
import json
import math
import os
import shutil
import tempfile

import tensorflow as tf

from glow_prior.errors import RunDirError
from glow_prior.runs.rundir import BEST, CHECKPOINT_DIR, RunDir


class RunCheckpoints:
    """run: the RunDir; chief: whether this process writes it; objects: what a checkpoint
    holds (model, optimizer, polyak), by the names existing checkpoints use."""

    def __init__(self, run, chief, **objects):
        self.run, self.chief = run, chief
        self.epoch_state = tf.Variable("{}", dtype=tf.string, trainable=False)
        objects = dict(objects, epoch_state=self.epoch_state)
        self.manager = run.checkpoint_manager(**objects)
        self._worker_dir = None if chief else tempfile.mkdtemp(prefix="glow_prior_worker")
        self.save_manager = self.manager if chief else \
            RunDir(self._worker_dir).checkpoint_manager(**objects)
        writes = run if chief else RunDir(self._worker_dir)
        self.best_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(**objects), os.path.join(writes.file(CHECKPOINT_DIR), BEST), 1)

    def save(self, progress, step):
        """Writes a checkpoint of global step `step` with the epoch's running statistics
        `progress`; a failed write (disk full, no permission) leaves the previous one in
        place and stops the run with RunDirError saying so."""
        self.epoch_state.assign(json.dumps(progress))
        previous = self.save_manager.latest_checkpoint
        try:
            return self.save_manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            kept = (f"the previous checkpoint {os.path.basename(previous)} is intact and a "
                    "rerun resumes from it") if previous else "no earlier checkpoint exists"
            raise RunDirError(f"could not write a checkpoint in {self.run.path} at step "
                              f"{step} ({error}); {kept}") from error

    def save_best(self, step):
        """Keeps the current weights as the run's best (checkpoints/best, one checkpoint:
        the best validation bits/dim so far), with one-line errors as `save`."""
        try:
            return self.best_manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            raise RunDirError(f"could not write the best checkpoint in {self.run.path} at "
                              f"step {step} ({error})") from error

    def saved_progress(self):
        """The running statistics of the epoch stored with the restored checkpoint."""
        return json.loads(self.epoch_state.numpy().decode() or "{}")

    def latest(self):
        """The newest checkpoint this process wrote (or restored), or None."""
        return self.save_manager.latest_checkpoint

    def restore(self, path, verified=False):
        """Restores the checkpoint at `path` (verified first unless `verified`)."""
        return self.run.restore(self.manager, path, verified=verified)

    def rewind_to_finite(self, batch_loss, step):
        """After the current weights gave a non-finite loss: restores the newest checkpoint
        whose loss (`batch_loss()`) is finite and makes it the resume point; returns the
        sentence saying which (or that none is)."""
        for path in reversed(self.manager.checkpoints):
            self.restore(path)
            loss = batch_loss()
            if math.isfinite(loss):
                kept = self.manager.checkpoints[:self.manager.checkpoints.index(path) + 1]
                if self.chief:
                    self.run.set_pointer(path, kept)
                return (f"the weights after step {step - 1} give a non-finite loss too; the "
                        f"run now resumes from {path} (its loss on that batch is {loss:.4g})")
        return "no saved state gives a finite loss on that batch; start a new run"

    def close(self):
        """Removes a non-chief worker's temporary checkpoint folder."""
        if self._worker_dir is not None:
            shutil.rmtree(self._worker_dir, ignore_errors=True)
