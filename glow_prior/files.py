"""Atomic file writes: a reader (or a killed writer) never sees half a file.

Each writer fills a temporary file beside the target, flushes it to disk and renames it
into place (os.replace is atomic on POSIX file systems).
"""
import contextlib
import json
import os
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_output(path, mode="w"):
    """Yields a file object whose content replaces `path` when the block succeeds."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path, payload):
    with atomic_output(path) as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")


def write_text(path, text):
    with atomic_output(path) as f:
        f.write(text)


def write_npz(path, **arrays):
    with atomic_output(path, "wb") as f:
        np.savez(f, **arrays)
