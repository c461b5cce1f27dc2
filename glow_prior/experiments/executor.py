"""Running an experiment's commands, each in its own process, several at once.

While a run trains, its per-epoch lines and periodic progress lines (epoch, bits/dim,
images/s, time left) are shown in the terminal, prefixed with the run's name; everything a
command prints goes to OUTPUT_DIR/logs/<run>.<train|evaluate>.log, and commands.log lists
the commands.
"""
import concurrent.futures
import os
import signal
import subprocess
import threading

from glow_prior.errors import GlowPriorError, Interrupted
from glow_prior.experiments.commands import command_line

# Lines of a training or evaluation process shown in the terminal (all go to the log).
SHOWN_PREFIXES = ("epoch ", "progress: ", "Resumed from", "Restored weights", "error: ",
                  "Traceback", "Scored")


class RunFailedError(GlowPriorError):
    """A command of an experiment exited with an error."""


class Executor:
    """Runs the commands of an experiment, `jobs` at a time (each TensorFlow process then
    gets cores // jobs threads). A command's output goes to OUTPUT_DIR/logs/<name>.log and
    its progress lines to the terminal as "[run] ..."; commands.log lists every command.
    The first failure stops the others and raises RunFailedError naming the command and
    its log."""

    def __init__(self, output_dir, jobs=1):
        self.output_dir = output_dir
        self.jobs = max(1, int(jobs))
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0
        self._lock = threading.Lock()
        self._failed = threading.Event()
        self._running = set()
        os.makedirs(os.path.join(output_dir, "logs"), exist_ok=True)

    def _say(self, text):
        with self._lock:
            print(text, flush=True)

    def execute(self, command, label, log_name):
        """Runs one command (see the class docstring)."""
        if self._failed.is_set():
            return
        if self.threads:
            command = [*command, f"--threads={self.threads}"]
        log_path = os.path.join(self.output_dir, "logs", f"{log_name}.log")
        with self._lock:
            with open(os.path.join(self.output_dir, "commands.log"), "a") as f:
                f.write(f"$ {command_line(command)}  # output: logs/{log_name}.log\n")
        self._say(f"[{label}] $ {command_line(command)}")
        with open(log_path, "a") as log:
            log.write(f"$ {command_line(command)}\n")
            log.flush()
            # A session of its own: a terminal's Ctrl-C reaches reproduce, which passes it
            # on once (a second SIGINT would stop a training without its checkpoint).
            process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, bufsize=1,
                                       start_new_session=True)
            with self._lock:
                self._running.add(process)
            last_lines = []
            for line in process.stdout:
                log.write(line)
                log.flush()
                last_lines = (last_lines + [line.rstrip()])[-6:]
                if line.startswith(SHOWN_PREFIXES):
                    self._say(f"[{label}] {line.rstrip()}")
            status = process.wait()
            with self._lock:
                self._running.discard(process)
        if status != 0 and not self._failed.is_set():
            self._failed.set()
            with self._lock:
                for other in self._running:
                    other.terminate()
            tail = " | ".join(line for line in last_lines if line)
            raise RunFailedError(f"run '{label}' failed (exit status {status}): "
                                 f"{command_line(command)}; its output is in {log_path} "
                                 f"(last lines: {tail})")

    def execute_all(self, items):
        """Runs [(command, label, log name)], `jobs` at a time; returns the commands.
        SIGINT or SIGTERM is passed on to the running commands (trainings checkpoint and
        stop), no new command starts, and once they have ended Interrupted is raised."""
        with _ForwardedSignals(self) as forwarded:
            with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
                futures = [pool.submit(self.execute, *item) for item in items]
                for future in futures:
                    try:
                        future.result()
                    except RunFailedError:
                        if forwarded.received is None:
                            raise
            forwarded.raise_if_received()
        return [command for command, _, _ in items]

    def forward(self, signum):
        """Stops new commands and sends `signum` to the running ones."""
        self._failed.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            if process.poll() is None:
                process.send_signal(signum)


class _ForwardedSignals:
    """SIGINT/SIGTERM handlers (main thread only) that forward the signal to an Executor's
    commands; `raise_if_received` then raises Interrupted (exit status 130 or 143)."""

    STATUS = {signal.SIGINT: ("interrupted (Ctrl-C)", 130),
              signal.SIGTERM: ("terminated (SIGTERM)", 143)}

    def __init__(self, executor):
        self.executor = executor
        self.received = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.STATUS:
                self._previous[signum] = signal.signal(signum, self._forward)
        return self

    def _forward(self, signum, frame):
        del frame
        self.received = signum
        self.executor.forward(signum)

    def raise_if_received(self):
        if self.received is not None:
            what, status = self.STATUS[self.received]
            raise Interrupted(f"reproduce {what}: the running commands were passed the "
                              "signal and have ended (trainings checkpointed); rerun the "
                              "same command to resume", status)

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False
