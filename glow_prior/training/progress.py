"""What a training run shows while it runs: a progress bar (tqdm) on a terminal, else a
progress line every `progress_secs`; one line per epoch; images per second and the time
left."""
import sys
import time

from tqdm import tqdm


class StepTimer:
    """Images per second of an epoch's steps, from the end of its first step on (a
    process's first step traces and compiles the step functions: not a steady rate); with
    one step only, that step's."""

    def __init__(self, batch_size):
        self.batch_size = batch_size
        self.started, self.first, self.last, self.steps = time.time(), None, None, 0

    def tick(self):
        """Counts a finished step; returns the rate so far."""
        self.steps += 1
        self.last = time.time()
        self.first = self.first or self.last
        return self.rate()

    def rate(self):
        """Images per second so far (see the class docstring)."""
        if self.steps >= 2:
            return (self.steps - 1) * self.batch_size / max(self.last - self.first, 1e-9)
        if self.steps == 1:
            return self.batch_size / max(self.last - self.started, 1e-9)
        return 0.0


def format_seconds(seconds):
    """Seconds as H:MM:SS."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """The progress display of one run of `epochs` epochs of `its_per_epoch` steps of
    `batch_size` examples; silent unless `show`."""

    def __init__(self, epochs, its_per_epoch, batch_size, show=True, every_secs=60.0):
        self.epochs, self.its_per_epoch, self.batch_size = epochs, its_per_epoch, batch_size
        self.show, self.every_secs = show, every_secs
        self._bar, self._last_line = None, 0.0

    def say(self, text):
        """Prints a line when progress is shown."""
        if self.show:
            print(text, flush=True)

    def start_epoch(self, epoch, done):
        """Starts the epoch's progress bar, `done` steps in (a resumed epoch)."""
        self._bar = tqdm(total=self.its_per_epoch, initial=done,
                         desc=f"epoch {epoch}/{self.epochs}", leave=False,
                         disable=None if self.show else True, dynamic_ncols=True,
                         file=sys.stdout)
        self._last_line = time.time()

    def step(self, epoch, count, totals, values, rate, global_step):
        """After a step: the bar, or a line when no bar is shown and one is due."""
        self._bar.set_postfix(bits=f"{values['bits_x']:.3f}", img_s=f"{rate:.0f}")
        self._bar.update(1)
        if self._bar.disable and self.show and time.time() - self._last_line > self.every_secs:
            bits = totals.get("bits_x", 0.0) / max(count, 1)
            self.say(f"progress: epoch {epoch}/{self.epochs} step {count}/"
                     f"{self.its_per_epoch} bits/dim {bits:.4f} {rate:.0f} img/s "
                     f"left {self.remaining(rate, global_step)}")
            self._last_line = time.time()

    def close_bar(self):
        """Closes the epoch's progress bar."""
        self._bar.close()

    def epoch_line(self, record):
        """Prints the epoch's record and the time left."""
        summary = " ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
        self.say(f"epoch {record['epoch']}/{self.epochs}: {summary} "
                 f"left={self.remaining(record['images_per_s'], record['step'])}")

    def remaining(self, rate, global_step):
        """The time left at `rate` images/s from global step `global_step`, as H:MM:SS."""
        left = self.epochs * self.its_per_epoch - global_step
        return format_seconds(left * self.batch_size / max(rate, 1e-9))
