"""Running a binary: flags first, TensorFlow second, one error boundary.

`App.main(argv)`:

1. defines the app's flags from its config dataclasses into a fresh absl FlagValues and
   parses the command line (flagfiles included). Bad flags, values, flagfiles and the
   configs' cross-field rules are reported here, in well under a second, before TensorFlow
   is imported;
2. starts TensorFlow (`start_tensorflow`) when the app needs it;
3. runs the app; the project's own errors (glow_prior.errors.GlowPriorError) become one
   line, "error: ...", and exit status 2. Anything else is a bug and keeps its traceback.

TensorFlow's start-up lines on a machine without an NVIDIA GPU ("Could not find cuda
drivers", "failed call to cuInit", the CPU-feature note) say nothing about the run and read
as failures, so they are dropped; every other line TensorFlow prints at start-up is kept.
GLOW_PRIOR_TF_STARTUP_LOG=all shows them all.
"""
import contextlib
import dataclasses
import os
import sys
import tempfile

from absl import flags

from glow_prior.apps.flags import define_all, parse_flags
from glow_prior.errors import GlowPriorError, Interrupted, wrapped_error

HELP_ARGUMENTS = ("-h", "-?", "--help", "--helpshort", "--helpfull")
EXIT_USER_ERROR = 2

# Start-up lines of TensorFlow's CUDA-enabled build on a machine without an NVIDIA GPU.
NO_GPU_STARTUP_NOISE = ("All log messages before absl::InitializeLog() is called",
                        "cudart_stub.cc", "cpu_feature_guard.cc",
                        "To enable the following instructions", "failed call to cuInit",
                        "Unable to register cuDNN", "Unable to register cuFFT",
                        "Unable to register cuBLAS", "computation placer already registered",
                        "oneDNN custom operations are on")


def _has_nvidia_device():
    return any(os.path.exists(path) for path in ("/dev/nvidia0", "/dev/nvidiactl"))


@contextlib.contextmanager
def _stderr_captured():
    """Redirects file descriptor 2 (C++ and Python writes alike) to a temporary file;
    yields a function returning what was written."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        written = []
        try:
            yield lambda: "".join(written)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            written.append(capture.read().decode(errors="replace"))


def _initialise(threads):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.list_physical_devices()


def start_tensorflow(threads=0):
    """Imports TensorFlow, limits its thread pools to `threads` (0: TensorFlow's default,
    one per core) and initialises its devices, dropping the no-GPU start-up noise."""
    if os.environ.get("GLOW_PRIOR_TF_STARTUP_LOG") == "all" or _has_nvidia_device():
        _initialise(threads)
        return
    with _stderr_captured() as captured:
        _initialise(threads)
    for line in captured().splitlines(keepends=True):
        if not any(noise in line for noise in NO_GPU_STARTUP_NOISE):
            sys.stderr.write(line)


def user_error(message):
    """Prints `error: message` on stderr; returns the user-error exit status (2)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


@dataclasses.dataclass
class App:
    """A binary: its usage text, flag sections (attribute name -> Config class), what runs
    after parsing (`run(args) -> exit status or None`), cross-section checks
    (`check(args)` raising InputError) and whether it needs TensorFlow. A section with a
    `threads` setting (the threads_option) sizes TensorFlow's thread pools."""

    name: str
    doc: str
    sections: dict
    run: object
    checks: tuple = ()
    tensorflow: bool = True

    def usage(self):
        """The binary's usage text: its docstring, then every flag grouped by section."""
        return f"{self.doc.strip()}\n\nFlags:\n{define_all(self.sections).get_help()}\n"

    def parse(self, argv):
        """The parsed command line (see glow_prior.apps.flags.parse_flags), after the
        app's cross-section checks. Raises flags.Error or GlowPriorError."""
        args = parse_flags(self.sections, argv)
        for check in self.checks:
            check(args)
        return args

    def main(self, argv=None):
        """Runs the binary; returns its exit status (0, or 2 for a user error)."""
        argv = list(sys.argv if argv is None else argv)
        argv[0] = self.name
        if any(argument in HELP_ARGUMENTS for argument in argv[1:]):
            print(self.usage())
            return 0
        try:
            args = self.parse(argv)
        except (flags.Error, GlowPriorError) as error:
            return user_error(f"{error}\n(run {self.name} --helpfull for the flags)")
        flags.FLAGS.mark_as_parsed()  # libraries reading absl's global flags see defaults
        if self.tensorflow:
            start_tensorflow(max((getattr(section, "threads", 0) for section in
                                  vars(args).values()), default=0))
        try:
            return self.run(args) or 0
        except Interrupted as error:
            print(f"stopped: {error}", file=sys.stderr, flush=True)
            return error.exit_status
        except GlowPriorError as error:
            return user_error(error)
        except Exception as error:  # pylint: disable=broad-except
            original = wrapped_error(error)  # an input check inside a tf.function
            if original is None:
                raise
            return user_error(original)
