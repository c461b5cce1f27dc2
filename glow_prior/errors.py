"""The project's exceptions: problems a user can cause and fix.

Every binary turns these into one line on stderr ("error: ...") and exit status 2
(glow_prior.apps.cli); any other exception is a bug and keeps its traceback.

    GlowPriorError
    ├── InputError            bad flag values, images, arrays, files (also a ValueError)
    ├── DataUnavailableError  a dataset is neither prepared nor downloadable; raw files missing
    ├── RunDirError           a run directory is missing, locked, or holds another experiment
    ├── CheckpointError       a checkpoint is corrupt or does not fit the model
    ├── FileSystemError       a path the user gave cannot be read or written (read-only,
    │                         full disk, a file where a folder belongs, ...)
    ├── NonFiniteLossError    training produced NaN/Inf (the last finite state is kept)
    └── Interrupted           training was stopped by SIGINT/SIGTERM after checkpointing
"""


class GlowPriorError(Exception):
    """A problem with what the user asked for; the message names it and the fix."""


class InputError(GlowPriorError, ValueError):
    """A flag value, array, image or file that cannot be used as given."""


class DataUnavailableError(GlowPriorError):
    """A dataset (or its raw files) cannot be found or prepared here."""


class RunDirError(GlowPriorError):
    """A run directory is missing, incomplete, in use, or belongs to another experiment."""


class CheckpointError(GlowPriorError):
    """A checkpoint cannot be read, is corrupt, or does not match the model."""


class FileSystemError(GlowPriorError):
    """A file or folder given by the user cannot be read or written; the message names the
    path, what was being done and the fix."""


class NonFiniteLossError(GlowPriorError, FloatingPointError):
    """The loss or a gradient became NaN/Inf; the message names the state that was kept."""


class Interrupted(GlowPriorError):
    """Training stopped on SIGINT or SIGTERM after writing a checkpoint; `exit_status` is
    130 or 143, as a shell reports a process ended by that signal."""

    def __init__(self, message, exit_status):
        super().__init__(message)
        self.exit_status = exit_status


def wrapped_error(error):
    """The project error that TensorFlow wrapped in `error`, or None.

    AutoGraph re-raises an exception raised while it traces a tf.function as a StagingError
    of its own, keeping the original as the new exception's context; an input check that
    runs inside a traced function would then reach the error boundary as a traceback."""
    if not type(error).__module__.startswith("tensorflow"):
        return None
    inner = error.__cause__ or error.__context__
    while inner is not None:
        if isinstance(inner, GlowPriorError):
            return inner
        inner = inner.__cause__ or inner.__context__
    return None
