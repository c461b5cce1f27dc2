"""Vector datasets for tabular flows, with their out-of-distribution sets.

* synthetic_2d / synthetic_10d: Kamoi et al.'s two-mode mixture (glow_prior.data.synthetic);
  labels are the mixture components; OOD set "synthetic_ood" is N(0, 0.01 I).
* breast_cancer: scikit-learn's bundled Wisconsin breast-cancer data (569 x 30, classes
  0 malignant / 1 benign): a real two-class dataset that works offline.
* miniboone: MiniBooNE_PID.txt from UCI (first line "n_signal n_background", then 50
  features per row, signal rows first), classes balanced by truncation as in flows_ood.
* hepmass: UCI's 1000_train.csv / 1000_test.csv (column 0 the label, the last test column
  dropped as in Papamakarios et al.'s loader), features whose smallest value repeats more
  than 5 times in the training data removed (their preprocessing).
* embeddings: feature vectors from .npz files with arrays `embeddings` and `labels`
  (flows_ood's format); OOD sets are further .npz files.

Class datasets (Kirichenko et al. 2020, App. K.3): train on class `in_class`, test on its
held-out 10% (seeded), OOD = the other class's held-out split. Every split is standardised
with the in-class training mean and standard deviation (flows_ood's convention), so
log-likelihoods are of standardised features.
"""
import dataclasses
import os
from collections import Counter

import numpy as np
from sklearn import datasets as sklearn_datasets
from sklearn.model_selection import train_test_split

from glow_prior.config.data import TABULAR_DATASETS as DATASETS
from glow_prior.data import synthetic
from glow_prior.errors import DataUnavailableError, InputError


@dataclasses.dataclass
class VectorSet:
    x: np.ndarray
    y: np.ndarray
    name: str

    def __len__(self):
        return len(self.x)


@dataclasses.dataclass
class TabularSplits:
    train: VectorSet
    test: VectorSet
    ood: dict


def _require(path, what):
    if not path or not os.path.exists(path):
        raise DataUnavailableError(f"{what} not found at '{path}'; pass its location with "
                                "--tabular_path")
    return path


def _synthetic(config, dim):
    x, y = synthetic.two_mode_mixture(config.n_train, dim, config.seed)
    x_test, y_test = synthetic.two_mode_mixture(config.n_test, dim, config.seed + 1)
    ood = synthetic.ood_gaussian(config.n_test, dim, config.seed + 2)
    return TabularSplits(VectorSet(x, y, config.dataset), VectorSet(x_test, y_test, "test"),
                         {"synthetic_ood": VectorSet(ood, np.zeros(len(ood), np.int64),
                                                     "synthetic_ood")})


def _class_splits(x, y, config):
    """Seeded 90/10 split per class, train on in_class, OOD = the other classes' tests."""
    classes = np.unique(y)
    if config.in_class not in classes:
        raise InputError(f"in_class={config.in_class} is not one of the classes {classes}")
    parts = {}
    for label in classes:
        members = x[y == label]
        parts[label] = train_test_split(members, test_size=0.1, random_state=config.seed)
    train, test = parts[config.in_class]
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0

    def standardised(values, label, name):
        values = ((values - mean) / std).astype(np.float32)
        return VectorSet(values, np.full(len(values), label, np.int64), name)

    ood = {f"class_{label}": standardised(parts[label][1], label, f"class_{label}")
           for label in classes if label != config.in_class}
    return TabularSplits(standardised(train, config.in_class, config.dataset),
                         standardised(test, config.in_class, "test"), ood)


def read_miniboone(path):
    """(x [N, 50], y) from MiniBooNE_PID.txt; y = 1 signal, 0 background."""
    with open(_require(path, "MiniBooNE_PID.txt")) as f:
        n_signal, n_background = (int(v) for v in f.readline().split())
        x = np.loadtxt(f, dtype=np.float64)
    if len(x) != n_signal + n_background or x.shape[1] != 50:
        raise InputError(f"{path}: expected {n_signal + n_background} rows of 50 features, "
                         f"got {x.shape}")
    y = np.concatenate([np.ones(n_signal, np.int64), np.zeros(n_background, np.int64)])
    n = min(n_signal, n_background)  # balance the classes (signal rows come first)
    keep = np.concatenate([np.arange(n), n_signal + np.arange(n)])
    return x[keep], y[keep]


def _read_csv(path):
    return np.loadtxt(_require(path, os.path.basename(path or "HEPMASS csv")),
                      delimiter=",", skiprows=1, dtype=np.float64)


def read_hepmass(directory):
    """(x, y) of 1000_train.csv + 1000_test.csv with Papamakarios et al.'s feature pruning."""
    train = _read_csv(os.path.join(directory or "", "1000_train.csv"))
    test = _read_csv(os.path.join(directory or "", "1000_test.csv"))[:, :-1]
    if train.shape[1] != test.shape[1]:
        raise InputError(f"HEPMASS train has {train.shape[1]} columns, test "
                         f"{test.shape[1]} after dropping its last column")
    data = np.concatenate([train, test])
    x, y = data[:, 1:], data[:, 0].astype(np.int64)
    repeats = [Counter(column)[column.min()] for column in train[:, 1:].T]
    keep = [i for i, count in enumerate(repeats) if count <= 5]
    return x[:, keep], y


def _read_embeddings(path):
    with np.load(_require(path, "embeddings .npz")) as archive:
        if "embeddings" not in archive:
            raise InputError(f"{path} has no array 'embeddings'")
        x = archive["embeddings"].astype(np.float32)
        y = archive["labels"].astype(np.int64) if "labels" in archive else \
            np.zeros(len(x), np.int64)
    if x.ndim != 2:
        raise InputError(f"{path}: embeddings must be [N, D], got {x.shape}")
    return x, y


def _embeddings(config):
    x, y = _read_embeddings(config.path)
    x_test, y_test = _read_embeddings(config.test_path)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0

    def standardised(values, labels, name):
        return VectorSet(((values - mean) / std).astype(np.float32), labels, name)

    ood = {}
    for path in config.ood_paths:
        name = os.path.splitext(os.path.basename(path))[0]
        ood[name] = standardised(*_read_embeddings(path), name)
    return TabularSplits(standardised(x, y, "embeddings"), standardised(x_test, y_test, "test"),
                         ood)


def load_tabular(config):
    """TabularSplits (train, test, {ood name: set}) for `config`."""
    if config.dataset == "synthetic_2d":
        return _synthetic(config, 2)
    if config.dataset == "synthetic_10d":
        return _synthetic(config, 10)
    if config.dataset == "breast_cancer":
        bunch = sklearn_datasets.load_breast_cancer()
        return _class_splits(bunch.data, bunch.target, config)
    if config.dataset == "miniboone":
        return _class_splits(*read_miniboone(config.path), config)
    if config.dataset == "hepmass":
        return _class_splits(*read_hepmass(config.path), config)
    if config.dataset == "embeddings":
        return _embeddings(config)
    raise InputError(f"unknown tabular dataset '{config.dataset}'; use one of {DATASETS}")
