"""Which data an experiment trains and tests on: image datasets and vector datasets."""
import dataclasses
import os

from glow_prior.config.common import seed_option
from glow_prior.config.fields import Config, check, option
from glow_prior.errors import InputError

# tfds image datasets and their number of classes (0: no labels).
IMAGE_DATASETS = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "svhn_cropped": 10,
                  "celeb_a": 0}
# Synthetic image sets, usable wherever an OOD dataset name is accepted.
SYNTHETIC_IMAGE_SETS = ("constant", "noise")
# The in-distribution dataset's test images whose labels the run did not train on.
OTHER_LABELS = "other_labels"
# Datasets prepare_data builds without network, and where their sources are.
OFFLINE_PREPARABLE = ("fashion_mnist", "mnist")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "glow_prior")
TABULAR_DATASETS = ("synthetic_2d", "synthetic_10d", "breast_cancer", "miniboone", "hepmass",
                    "embeddings")


def check_image_set_name(name, what="dataset"):
    """Raises InputError unless `name` is an image dataset or a synthetic set."""
    known = (*IMAGE_DATASETS, *SYNTHETIC_IMAGE_SETS)
    if name not in known:
        raise InputError(f"unknown {what} '{name}'; use one of {', '.join(known)}")


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    """Which images an experiment trains and tests on.

    dataset: stock tfds name. labels: keep only these labels (empty = all).
    subset: size of a seeded random subset of the training images (0 = all).
    kmeans_clusters / kmeans_keep: split each kept label's training images into this many
      k-means++ clusters and keep the cluster with this number (clusters are numbered by
      decreasing size); 0 clusters = off.
    image_size: pad / average-pool square images to this size (-1: native size).
    """

    dataset: str = option("fashion_mnist", "tfds dataset.", choices=tuple(IMAGE_DATASETS))
    data_dir: str = option(None, "tfds data_dir (default ~/tensorflow_datasets).")
    labels: tuple = option((), "Train and test only on these labels (e.g. 1,7).", item=int)
    subset: int = option(0, "Random subset of this many training images (0: all).",
                         lower=0)
    seed: int = seed_option()
    image_size: int = option(-1, "Pad/average-pool square images to this size (-1: native "
                             "size).", lower=-1)
    kmeans_clusters: int = option(0, "Cluster each label's training images into this many "
                                  "k-means++ clusters (0: off).", lower=0)
    kmeans_keep: int = option(0, "Cluster number (by decreasing size) to keep.", lower=0)

    @check("dataset", "labels")
    def _labels_exist(self):
        n_classes = IMAGE_DATASETS.get(self.dataset, 0)
        unknown = [label for label in self.labels if not 0 <= label < n_classes]
        if unknown:
            raise InputError(f"{self.dataset} has no label {', '.join(map(str, unknown))} "
                             f"(its labels: {f'0..{n_classes - 1}' if n_classes else 'none'})")
        if len(set(self.labels)) != len(self.labels):
            raise InputError(f"labels {list(self.labels)} repeat a label")

    @check("kmeans_clusters", "kmeans_keep", "labels")
    def _clusters(self):
        if self.kmeans_clusters and not self.labels:
            raise InputError("kmeans_clusters needs --labels: clusters are formed per label")
        if self.kmeans_clusters and self.kmeans_keep >= self.kmeans_clusters:
            raise InputError(f"kmeans_keep={self.kmeans_keep} must be below "
                             f"kmeans_clusters={self.kmeans_clusters}")

    @check("image_size")
    def _image_size(self):
        if self.image_size == 0:
            raise InputError("image_size must be positive, or -1 for the native size")


@dataclasses.dataclass(frozen=True)
class TabularDataConfig(Config):
    """Vector datasets (glow_prior.data.tabular)."""

    dataset: str = option("synthetic_2d", "Vector dataset.", choices=TABULAR_DATASETS)
    path: str = option(None, "MiniBooNE_PID.txt, the HEPMASS folder, or the training "
                       "embeddings .npz.", flag="tabular_path")
    test_path: str = option(None, "Test embeddings .npz.", flag="tabular_test_path")
    ood_paths: tuple = option((), "OOD embeddings .npz files.")
    in_class: int = option(0, "Class trained on (the other class is OOD).", lower=0)
    n_train: int = option(10000, "Synthetic training points.", flag="n_train_points",
                          lower=1)
    n_test: int = option(2000, "Synthetic test / OOD points.", flag="n_test_points", lower=1)
    seed: int = seed_option()


@dataclasses.dataclass(frozen=True)
class ArraysConfig(Config):
    """In-memory data given from Python (glow_prior.train with arrays or a tf.data.Dataset):
    what a run's record keeps of it. The arrays are not stored; their fingerprints
    (glow_prior.data.arrays.fingerprint) make a rerun with other data a different
    experiment, refused like any other change of settings."""

    name: str = option("arrays", "What the data is called (reports, titles).")
    fingerprint: str = option("", "Fingerprint of the training examples, labels and "
                              "components.")
    test_fingerprint: str = option("", "Fingerprint of the test examples and labels ('': no "
                                   "test set).")
    n_examples: int = option(0, "Number of training examples.", lower=0)
    example_shape: tuple = option((), "Shape of one example.", item=int)
