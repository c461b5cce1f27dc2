"""Writing outputs so that a reader, or a killed or failed writer, never sees half of them.

* atomic_output / write_json / write_text / write_npz: one file, filled in a temporary file
  beside it, flushed to disk and renamed into place (os.replace is atomic on POSIX file
  systems). The file gets the mode the umask gives any new file (0644 under umask 0022),
  like the rest of a run directory, not the temporary file's 0600.
* staged_files(directory): several files (a report) written into a temporary folder inside
  `directory` and moved into place only when all of them are complete; on failure the
  folder is removed and the previous files stay.
* staged_directory(path, overwrite): a whole directory (an export) built beside `path` and
  renamed into place; an existing `path` is refused unless `overwrite`, and two writers
  never mix their files (the rename of the second fails instead).
* on_user_path(path, what): turns an OSError on a path the user gave (read-only, full,
  a file where a folder is expected, ...) into one FileSystemError naming the path, what
  was being done and the fix; any other exception keeps its traceback.
"""
import contextlib
import errno
import json
import os
import shutil
import tempfile

import numpy as np

from glow_prior.errors import FileSystemError


def _umask():
    """The process umask (read from /proc where possible, without changing it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode():
    """The mode a new file gets under the process umask."""
    return 0o666 & ~_umask()


def describe(error, path, what):
    """One line for an OSError met while `what` at `path`, naming the fix."""
    code = getattr(error, "errno", None)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "it is not writable (permissions or a read-only file system); choose another " \
              "path or make it writable"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        fix = "the disk (or quota) is full; free space and rerun"
    elif code == errno.EISDIR:
        fix = "it is a directory; give a file path"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        fix = "a file stands where a directory is needed; give a directory path"
    elif code == errno.ENOENT:
        fix = "it does not exist"
    elif code in (errno.ENOTEMPTY,):
        fix = "another process wrote there at the same time; rerun"
    else:
        fix = getattr(error, "strerror", None) or str(error)
    return f"cannot {what} at {path}: {fix}"


@contextlib.contextmanager
def on_user_path(path, what):
    """OSError inside the block -> FileSystemError about `path` (see the module docstring)."""
    try:
        yield
    except FileSystemError:
        raise
    except (OSError, EOFError) as error:
        raise FileSystemError(describe(error, path, what)) from error


def make_directory(path, what="create the directory"):
    """os.makedirs(path, exist_ok=True) with one-line errors (a file in the way, read-only)."""
    if not path:
        raise FileSystemError(f"cannot {what}: the path is empty")
    with on_user_path(path, what):
        if os.path.exists(path) and not os.path.isdir(path):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        os.makedirs(path, exist_ok=True)


@contextlib.contextmanager
def atomic_output(path, mode="w"):
    """Yields a file object whose content replaces `path` when the block succeeds."""
    directory = os.path.dirname(os.path.abspath(path))
    with on_user_path(path, "write"):
        os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with on_user_path(path, "write"):
            with os.fdopen(handle, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temporary, new_file_mode())
            os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path, payload):
    """Writes `payload` as indented JSON to `path`, atomically."""
    with atomic_output(path) as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")


def write_text(path, text):
    """Writes `text` to `path`, atomically."""
    with atomic_output(path) as f:
        f.write(text)


def write_npz(path, **arrays):
    """Writes `arrays` as an .npz archive to `path`, atomically."""
    with atomic_output(path, "wb") as f:
        np.savez(f, **arrays)


@contextlib.contextmanager
def staged_files(directory):
    """Yields a temporary folder inside `directory`; every file written there is moved
    into `directory` when the block succeeds (see the module docstring)."""
    make_directory(directory, "write a report into the directory")
    with on_user_path(directory, "write a report into the directory"):
        staging = tempfile.mkdtemp(dir=directory, prefix=".staging-")
    try:
        with on_user_path(directory, "write a report into the directory"):
            yield staging
            mode = new_file_mode()
            for name in sorted(os.listdir(staging)):
                os.chmod(os.path.join(staging, name), mode)
                os.replace(os.path.join(staging, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(path, overwrite=False, what="export"):
    """Yields a temporary folder beside `path` that becomes `path` when the block succeeds
    (see the module docstring)."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if os.path.exists(path) and not overwrite:
        raise FileSystemError(f"cannot {what} to {path}: it already exists; choose another "
                              "directory or pass --overwrite to replace it")
    make_directory(parent, f"{what} into the directory")
    with on_user_path(path, what):
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.staging-")
    retired = None
    try:
        with on_user_path(path, what):
            yield staging
            os.chmod(staging, 0o777 & ~_umask())
            if os.path.exists(path) and overwrite:
                retired = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.old-")
                os.rmdir(retired)
                os.rename(path, retired)
            elif os.path.exists(path):
                raise FileSystemError(f"cannot {what} to {path}: another process created it "
                                      "meanwhile; it is left as that process wrote it")
            os.rename(staging, path)  # fails if another writer filled `path` meanwhile
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
