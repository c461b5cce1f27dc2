"""Run directories: one experiment each, what every binary reads and writes.

    LOGDIR/hparams.json         the RunSpec: every setting that defines the experiment, and
                                the history of deliberate changes (glow_prior.config.run)
    LOGDIR/.lock                held (flock) by the training process working in LOGDIR
    LOGDIR/checkpoints/         tf.train.CheckpointManager checkpoints (model, optimizer,
                                Polyak averages, the epoch's running statistics)
    LOGDIR/train.txt, test.txt  one JSON line per epoch (OpenAI's ResultLogger style)
    LOGDIR/tensorboard/         TensorBoard summaries

Guarantees:

* hparams.json and log rewrites are atomic (temporary file + rename); TensorFlow writes a
  checkpoint's data and index files before it atomically rewrites the `checkpoint` state
  file, so a run killed while saving resumes from its previous checkpoint;
* a training process holds an exclusive OS lock (fcntl.flock) on LOGDIR/.lock for its
  whole life; the kernel releases it when the process exits, however it dies. A second
  process fails at once, naming the holder's PID;
* a checkpoint is read in full and checked before it is restored: a corrupt or truncated
  file is reported by name, never skipped in favour of an older checkpoint or a fresh
  initialisation (an older checkpoint is used only when asked for, --resume_from);
* restoring requires every variable of the model to be in the checkpoint.
"""
import fcntl
import json
import os

import tensorflow as tf

from glow_prior import files
from glow_prior.config import RunSpec
from glow_prior.errors import CheckpointError, GlowPriorError, RunDirError

HPARAMS_FILE = "hparams.json"
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"
MAX_CHECKPOINTS = 3


def verify_checkpoint(prefix):
    """Reads every tensor of the checkpoint at `prefix`; raises CheckpointError naming the
    damaged file (TensorFlow checks each tensor's checksum while reading)."""
    index = f"{prefix}.index"
    for path in (index,):
        if not os.path.exists(path):
            raise CheckpointError(f"checkpoint file {path} is missing")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as error:
        raise CheckpointError(f"checkpoint index {index} is corrupt: {error}") from error
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as error:
        data = sorted(f for f in os.listdir(os.path.dirname(prefix) or ".")
                      if f.startswith(os.path.basename(prefix) + ".data"))
        raise CheckpointError(f"checkpoint data {', '.join(data) or prefix} of {prefix} is "
                              f"corrupt or truncated ({error})") from error


class RunDir:
    """The run directory at `path`."""

    def __init__(self, path):
        self.path = str(path)
        self._lock_fd = None

    def file(self, name):
        return os.path.join(self.path, name)

    # ---------------------------------------------------------------- the record
    @property
    def has_spec(self):
        return os.path.exists(self.file(HPARAMS_FILE))

    def read_spec(self):
        path = self.file(HPARAMS_FILE)
        if not os.path.exists(path):
            raise RunDirError(f"{self.path} is not a glow_prior run directory: {HPARAMS_FILE} "
                              "is missing (train a model or import a checkpoint into it first)")
        try:
            with open(path) as f:
                return RunSpec.from_dict(json.load(f))
        except json.JSONDecodeError as error:
            raise RunDirError(f"{path} is not valid JSON: {error}") from error
        except (GlowPriorError, KeyError, TypeError) as error:
            raise RunDirError(f"{path} does not describe a run of this version of "
                              f"glow_prior: {error}") from error

    def write_spec(self, spec):
        files.write_json(self.file(HPARAMS_FILE), spec.to_dict())

    # ---------------------------------------------------------------------- lock
    def lock(self):
        """Takes the directory's exclusive lock (released on close() or process exit)."""
        os.makedirs(self.path, exist_ok=True)
        descriptor = os.open(self.file(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.read(descriptor, 32).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise RunDirError(f"{self.path} is in use by another training process (PID "
                              f"{holder}); wait for it to end or stop it, or use another "
                              "--logdir") from error
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        self._lock_fd = descriptor
        return self

    def close(self):
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # --------------------------------------------------------------- checkpoints
    def checkpoint_manager(self, **objects):
        return tf.train.CheckpointManager(tf.train.Checkpoint(**objects),
                                          self.file(CHECKPOINT_DIR), MAX_CHECKPOINTS)

    def checkpoint_path(self, manager, name=""):
        """The newest checkpoint, or the one named `name` (e.g. 'ckpt-200'); None if the
        directory has none."""
        if not name:
            return manager.latest_checkpoint
        path = name if os.path.isabs(name) else self.file(os.path.join(CHECKPOINT_DIR, name))
        if not os.path.exists(f"{path}.index"):
            available = ", ".join(os.path.basename(p) for p in manager.checkpoints) or "none"
            raise CheckpointError(f"no checkpoint {name} in {self.file(CHECKPOINT_DIR)} "
                                  f"(available: {available})")
        return path

    def restore(self, manager, name="", partial=False):
        """Verifies and restores the newest checkpoint (or `name`); returns its path, or
        None when there is none. partial: the checkpoint may hold more than the manager's
        objects (e.g. an optimizer a scorer does not need)."""
        path = self.checkpoint_path(manager, name)
        if path is None:
            return None
        verify_checkpoint(path)
        status = manager.checkpoint.restore(path)
        if partial:
            status.expect_partial()
        try:
            status.assert_existing_objects_matched()
        except AssertionError as error:
            raise CheckpointError(f"checkpoint {path} does not hold this model's variables "
                                  f"(written by another architecture or version): "
                                  f"{str(error)[:300]}") from error
        return path

    # ----------------------------------------------------------------------- logs
    def append_log(self, name, record):
        with open(self.file(name), "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_log(self, name):
        path = self.file(name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def truncate_logs(self, step, names=("train.txt", "test.txt")):
        """Drops log lines written after `step` (by a run killed after logging an epoch
        but before checkpointing it), so a resumed run logs each epoch once."""
        for name in names:
            records = self.read_log(name)
            kept = [r for r in records if r.get("step", 0) <= step]
            if len(kept) != len(records):
                files.write_text(self.file(name), "".join(json.dumps(r) + "\n" for r in kept))
