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
  file (the pointer), so a run killed while saving resumes from its previous checkpoint;
* a training command is checked against the run directory before anything is written
  (`plan_training`, then `commit`): the settings guard applies whenever hparams.json
  exists; a lost pointer is rebuilt from the newest checkpoint whose files are complete and
  verified (said in one line), and a run whose log or checkpoints say it exists is never
  started over; a refused command changes nothing;
* hparams.json keys this version does not know are kept, not dropped;
* a training process holds an exclusive OS lock (fcntl.flock) on LOGDIR/.lock for its
  whole life; the kernel releases it when the process exits, however it dies. A second
  process fails at once, naming the holder's PID;
* a checkpoint is read in full and checked before it is restored: a corrupt or truncated
  file is reported by name, never skipped in favour of an older checkpoint or a fresh
  initialisation (an older checkpoint is used only when asked for, --resume_from);
* restoring requires every variable of the model to be in the checkpoint.
"""
import dataclasses
import fcntl
import glob
import json
import os
import re
import uuid

import tensorflow as tf

from glow_prior import files
from glow_prior.config import RunSpec
from glow_prior.errors import CheckpointError, GlowPriorError, RunDirError

HPARAMS_FILE = "hparams.json"
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"
MAX_CHECKPOINTS = 3
LOGS = ("train.txt", "test.txt")
BEST = "best"  # checkpoints/best: the checkpoint with the best validation bits/dim


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


@dataclasses.dataclass
class TrainingPlan:
    """What a training command will do in a run directory, decided before anything is
    written: the record to keep (`spec`), the verified checkpoint to resume from (None: a
    new run), the pointer to rebuild (the intact checkpoints, oldest first) and the lines
    to tell the user."""

    spec: RunSpec
    checkpoint: str = None
    rebuilt_pointer: list = None
    notes: list = dataclasses.field(default_factory=list)

    @property
    def step(self):
        """The global step of the checkpoint to resume from (0 for a new run)."""
        return checkpoint_step(self.checkpoint) if self.checkpoint else 0


def checkpoint_step(path):
    """The global step in a checkpoint's name (ckpt-<step>)."""
    return int(path.rsplit("-", 1)[-1])


class RunDir:
    """The run directory at `path`."""

    def __init__(self, path):
        self.path = str(path)
        self._lock_fd = None

    def file(self, name):
        """The path of `name` inside the run directory."""
        return os.path.join(self.path, name)

    # ---------------------------------------------------------------- the record
    @property
    def has_spec(self):
        """Whether the run directory has its record (hparams.json)."""
        return os.path.exists(self.file(HPARAMS_FILE))

    def read_spec(self):
        """The run's record, or RunDirError naming what is wrong with hparams.json."""
        path = self.file(HPARAMS_FILE)
        if not os.path.exists(path):
            raise RunDirError(f"{self.path} is not a glow_prior run directory: {HPARAMS_FILE} "
                              "is missing (train a model or import a checkpoint into it first)")
        try:
            with files.on_user_path(path, "read the run's record"):
                with open(path) as f:
                    return RunSpec.from_dict(json.load(f))
        except json.JSONDecodeError as error:
            raise RunDirError(f"{path} is not valid JSON: {error}") from error
        except (GlowPriorError, KeyError, TypeError) as error:
            if isinstance(error, files.FileSystemError):
                raise
            raise RunDirError(f"{path} does not describe a run of this version of "
                              f"glow_prior: {error}") from error

    def write_spec(self, spec):
        """Writes the record; a record without a run id gets a new one."""
        if spec.run_id is None:
            spec = dataclasses.replace(spec, run_id=uuid.uuid4().hex)
        files.write_json(self.file(HPARAMS_FILE), spec.to_dict())

    # -------------------------------------------------------- opening for training
    def plan_training(self, spec, allowed_changes=(), resume_from=""):
        """Checks a training command (its RunSpec) against this directory and returns a
        TrainingPlan; writes nothing. Raises InputError when the settings differ from the
        record (beyond RESUMABLE and `allowed_changes`), CheckpointError for a damaged
        checkpoint, RunDirError when the directory says a run exists that cannot be
        resumed."""
        checkpoint, rebuilt, notes = self.find_checkpoint(resume_from)
        logged = self.read_log("train.txt")
        notes = notes + [f"{self.file(name)}: its last line was cut off (a process killed "
                         "while writing it); the line is dropped and the run resumes from its "
                         "checkpoint" for name in LOGS if self.last_line_truncated(name)]
        if not self.has_spec:
            if checkpoint or logged:
                raise RunDirError(
                    f"{self.path} holds {'checkpoints' if checkpoint else 'a training log'} "
                    f"but no {HPARAMS_FILE}, so what it trained is unknown; use another "
                    "--logdir (or restore the record)")
            return TrainingPlan(spec)
        stored = self.read_spec()
        if stored.extra:
            notes.append(f"{self.file(HPARAMS_FILE)} holds settings this version does not know "
                         f"({', '.join(sorted(stored.extra))}); they are kept as they are")
        step = checkpoint_step(checkpoint) if checkpoint else 0
        spec = stored.with_changes(spec, allowed_changes, step)
        if checkpoint is None and logged:
            raise RunDirError(
                f"{self.path}'s train.txt records {len(logged)} epoch(s) but no checkpoint is "
                f"left in {self.file(CHECKPOINT_DIR)}; the run cannot resume and is not "
                "started over: use another --logdir, or restore the checkpoint files")
        return TrainingPlan(spec, checkpoint, rebuilt, notes)

    def commit(self, plan):
        """Writes what `plan` decided: the record, the rebuilt pointer; removes temporary
        files a killed pointer update left (the caller holds the lock)."""
        directory = self.file(CHECKPOINT_DIR)
        for leftover in glob.glob(os.path.join(directory, "checkpoint.tmp*")):
            with files.on_user_path(leftover, "remove a leftover temporary file"):
                os.remove(leftover)
        if plan.rebuilt_pointer:
            self.set_pointer(plan.checkpoint, plan.rebuilt_pointer)
        self.write_spec(plan.spec)

    def set_pointer(self, checkpoint, kept):
        """Makes `checkpoint` the one a rerun resumes from, `kept` (oldest first) the ones
        the pointer lists (TensorFlow rewrites the pointer file atomically)."""
        directory = self.file(CHECKPOINT_DIR)
        with files.on_user_path(directory, "rewrite the checkpoint pointer"):
            tf.compat.v1.train.update_checkpoint_state(directory, checkpoint,
                                                       all_model_checkpoint_paths=kept)

    def find_checkpoint(self, name=""):
        """(verified checkpoint to resume from or None, the intact checkpoints when the
        pointer must be rebuilt or None, notes). With `name`, that checkpoint ("best": the
        best by validation bits/dim); else the pointer's newest; without a readable
        pointer, the newest checkpoint whose files are complete and verified."""
        directory = self.file(CHECKPOINT_DIR)
        if name == BEST:
            path = tf.train.latest_checkpoint(os.path.join(directory, BEST))
            if path is None:
                raise CheckpointError(f"{self.path} has no best checkpoint (checkpoints/{BEST} "
                                      "is written by runs with --validation_fraction)")
            verify_checkpoint(path)
            return path, None, []
        if name:
            path = name if os.path.isabs(name) else os.path.join(directory, name)
            if not os.path.exists(f"{path}.index"):
                found = ", ".join(os.path.basename(p) for p in self._checkpoint_files())
                raise CheckpointError(f"no checkpoint {name} in {directory} (available: "
                                      f"{found or 'none'})")
            verify_checkpoint(path)
            return path, None, []
        pointer = _read_pointer(directory)
        if pointer is not None:
            verify_checkpoint(pointer)
            return pointer, None, []
        candidates = self._checkpoint_files()
        if not candidates:
            return None, None, []
        intact = []
        for path in candidates:
            try:
                verify_checkpoint(path)
            except CheckpointError:
                continue
            intact.append(path)
        names = ", ".join(os.path.basename(p) for p in candidates)
        if not intact:
            raise CheckpointError(f"{directory} has lost its pointer (checkpoints/checkpoint) "
                                  f"and none of its checkpoints ({names}) is intact; the run "
                                  "cannot resume and is not started over")
        note = (f"The checkpoint pointer of {self.path} was missing: resuming from "
                f"{os.path.basename(intact[-1])}, the newest intact checkpoint of {names}.")
        return intact[-1], intact, [note]

    def _checkpoint_files(self):
        """Prefixes of the checkpoints present (by their index files), oldest first."""
        paths = glob.glob(os.path.join(self.file(CHECKPOINT_DIR), "ckpt-*.index"))
        prefixes = [p[:-len(".index")] for p in paths
                    if re.fullmatch(r"ckpt-\d+", os.path.basename(p)[:-len(".index")])]
        return sorted(prefixes, key=checkpoint_step)

    # ---------------------------------------------------------------------- lock
    def lock(self):
        """Takes the directory's exclusive lock (released on close() or process exit)."""
        files.make_directory(self.path, "train in the run directory")
        with files.on_user_path(self.path, "lock the run directory (for training)"):
            descriptor = os.open(self.file(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.read(descriptor, 32).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise RunDirError(f"{self.path} is in use by another training process (PID "
                              f"{holder}); wait for it to end or stop it, or use another "
                              "--logdir") from error
        self._lock_fd = descriptor
        try:
            with files.on_user_path(self.file(LOCK_FILE), "write the training process's PID "
                                    "into the run directory's lock"):
                os.ftruncate(descriptor, 0)
                os.write(descriptor, str(os.getpid()).encode())
        except files.FileSystemError:
            self.close()
            raise
        return self

    def close(self):
        """Releases the directory's lock (the OS releases it too when the process ends)."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # --------------------------------------------------------------- checkpoints
    def checkpoint_manager(self, **objects):
        """A CheckpointManager over checkpoints/ for `objects` (keeping the newest
        MAX_CHECKPOINTS)."""
        return tf.train.CheckpointManager(tf.train.Checkpoint(**objects),
                                          self.file(CHECKPOINT_DIR), MAX_CHECKPOINTS)

    def restore(self, manager, path, partial=False, verified=False):
        """Restores the checkpoint at `path` into the manager's objects, verifying its
        files first unless `verified` (find_checkpoint did). partial: the checkpoint may
        hold more than the manager's objects (e.g. an optimizer a scorer does not need)."""
        if not verified:
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
        """Appends `record` as one JSON line to the log `name`."""
        with files.on_user_path(self.file(name), "append to the log"):
            with open(self.file(name), "a") as f:
                f.write(json.dumps(record) + "\n")

    def last_line_truncated(self, name):
        """Whether the log's last line is not a whole JSON record (a killed writer's)."""
        path = self.file(name)
        if not os.path.exists(path):
            return False
        with files.on_user_path(path, "read the log"):
            with open(path) as f:
                lines = [line for line in f.read().split("\n") if line.strip()]
        try:
            json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            return True
        return False

    def read_log(self, name):
        """The log's records. A truncated last line (a process killed while appending) is
        dropped; a damaged line before it is an error naming the file and line."""
        path = self.file(name)
        if not os.path.exists(path):
            return []
        with files.on_user_path(path, "read the log"):
            with open(path) as f:
                lines = [line for line in f.read().split("\n") if line.strip()]
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number == len(lines):
                    break  # the last line of a killed writer
                raise RunDirError(f"{path} line {number} is not a JSON record ({error}); "
                                  "the log is damaged") from error
        return records

    def truncate_logs(self, step, names=None):
        """Drops log lines written after `step` (by a run killed after logging an epoch
        but before checkpointing it) and a truncated last line, so a resumed run logs each
        epoch once."""
        for name in names or LOGS:
            if not os.path.exists(self.file(name)):
                continue
            records = self.read_log(name)
            kept = [r for r in records if r.get("step", 0) <= step]
            text = "".join(json.dumps(r) + "\n" for r in kept)
            with open(self.file(name)) as f:
                current = f.read()
            if current != text:
                files.write_text(self.file(name), text)


def _read_pointer(directory):
    """The newest checkpoint the pointer file names, or None when the pointer is missing,
    empty or unreadable (a damaged pointer is rebuilt like a lost one)."""
    if not os.path.exists(os.path.join(directory, "checkpoint")):
        return None
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError, OSError):
        return None
    if state is None or not state.model_checkpoint_path:
        return None
    return state.model_checkpoint_path  # TensorFlow has already joined it to `directory`
