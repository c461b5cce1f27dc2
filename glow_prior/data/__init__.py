"""Datasets: tfds (online and offline-prepared), selection, preprocessing, synthetic data."""
import dataclasses

import numpy as np

from glow_prior.config_io import config_from_dict
from glow_prior.data import synthetic, tabular
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


def ood_split(name, config, split="test", shape=None, n_synthetic=2000):
    """A full split of OOD dataset `name` (all labels), resized like the in-distribution
    data: the test split for evaluation, the train split for negative training. The
    synthetic sets 'constant' and 'noise' are generated with the in-distribution `shape`."""
    if name in synthetic.IMAGE_SETS:
        if shape is None:
            raise ValueError(f"the synthetic set '{name}' needs the image shape")
        seed = config.seed + (0 if split == "test" else 1)
        x = synthetic.synthetic_images(name, n_synthetic, tuple(shape), seed)
        return ImageSet(x, np.zeros(len(x), np.int64), name, split)
    ood_config = DataConfig(dataset=name, data_dir=config.data_dir,
                            image_size=config.image_size)
    return load_split(ood_config, split)


def evaluation_sets(hparams, ood_names=(), data_dir=None, dataset=None):
    """(train, test, {name: OOD set}) of a run, read back from its hparams.

    Image runs: the run's DataConfig (data_dir / dataset may override it, e.g. for imported
    OpenAI models); OOD sets are the test splits of the tfds datasets in `ood_names`.
    Tabular runs: their TabularDataConfig defines the OOD sets; `ood_names` selects some.
    """
    if hparams.get("data_kind") == "tabular":
        splits = tabular.load_tabular(config_from_dict(tabular.TabularDataConfig,
                                                       hparams["data"]))
        unknown = sorted(set(ood_names) - set(splits.ood))
        if unknown:
            raise ValueError(f"this run's data has OOD sets {sorted(splits.ood)}, not "
                             f"{unknown}")
        chosen = {k: v for k, v in splits.ood.items() if not ood_names or k in ood_names}
        return splits.train, splits.test, chosen
    config = config_from_dict(DataConfig, hparams["data"])
    overrides = {k: v for k, v in (("data_dir", data_dir), ("dataset", dataset)) if v}
    config = dataclasses.replace(config, **overrides)
    if not config.dataset:
        raise ValueError("the run does not record its training dataset; pass --dataset")
    train, test = load_train_test(config)
    shape = train.x.shape[1:]
    return train, test, {name: ood_split(name, config, shape=shape) for name in ood_names}
