"""SIGINT and SIGTERM while training: noted, so the loop can checkpoint and stop after the
step in progress."""
import signal
import threading

STOP_SIGNALS = {signal.SIGINT: ("interrupted (Ctrl-C)", 130),
                signal.SIGTERM: ("terminated (SIGTERM)", 143)}


class StopRequests:
    """SIGINT and SIGTERM while training (main thread only): the signal is noted in
    `received` and the loop checkpoints and stops after the step in progress; a second
    Ctrl-C interrupts at once. The previous handlers come back on exit."""

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
