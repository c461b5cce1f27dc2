"""Datasets: tfds (online and offline-prepared), selection, preprocessing, synthetic data."""
import dataclasses

from glow_prior.data.preprocess import resize_images
from glow_prior.data.selection import filter_labels, keep_label_clusters, random_subset
from glow_prior.data.sources import (DatasetUnavailableError, ImageSet, load_images,
                                     prepare_command)

__all__ = ["DataConfig", "DatasetUnavailableError", "ImageSet", "load_images",
           "load_train_test", "prepare_command"]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which images an experiment trains and tests on.

    dataset: stock tfds name. labels: keep only these labels (empty = all).
    subset: size of a seeded random subset of the training images (0 = all).
    kmeans_clusters / kmeans_keep: split each kept label's training images into this many
      k-means++ clusters and keep the cluster with this number (clusters are numbered by
      decreasing size); 0 clusters = off.
    image_size: pad / average-pool square images to this size (<= 0: native size).
    """

    dataset: str
    data_dir: str = None
    labels: tuple = ()
    subset: int = 0
    seed: int = 0
    image_size: int = -1
    kmeans_clusters: int = 0
    kmeans_keep: int = 0


def _resized(images, image_size):
    return ImageSet(resize_images(images.x, image_size), images.y, images.name, images.split)


def load_split(config, split):
    """One split of `config.dataset` with the label filter and resizing applied."""
    images = filter_labels(load_images(config.dataset, split, config.data_dir), config.labels)
    return _resized(images, config.image_size)


def load_train_test(config):
    """(train, test) ImageSets as the experiment defines them."""
    train, test = load_split(config, "train"), load_split(config, "test")
    if config.kmeans_clusters:
        if not config.labels:
            raise ValueError("kmeans_clusters needs --labels: clusters are formed per label")
        train, test = keep_label_clusters(train, test, config.labels, config.kmeans_clusters,
                                          config.kmeans_keep, config.seed)
    return random_subset(train, config.subset, config.seed), test
