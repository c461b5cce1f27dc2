"""Running binaries: quiet TensorFlow logging and one-line errors for bad input."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, logging  # pylint: disable=wrong-import-position

from glow_prior.data.offline import PreparationError  # pylint: disable=wrong-import-position
from glow_prior.data.sources import DatasetUnavailableError  # pylint: disable=wrong-import-position
from glow_prior.openai_ckpt import CheckpointImportError  # pylint: disable=wrong-import-position
from glow_prior.runs import RunDirError  # pylint: disable=wrong-import-position

# Errors that describe a problem with the user's input, printed without a traceback.
USER_ERRORS = (ValueError, DatasetUnavailableError, PreparationError, CheckpointImportError,
               RunDirError, FileNotFoundError)


def run(main):
    """app.run(main), printing USER_ERRORS as 'error: ...' and exiting with status 2."""

    def guarded(argv):
        logging.set_verbosity(logging.WARNING)
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        try:
            return main()
        except USER_ERRORS as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            sys.exit(2)

    app.run(guarded)
