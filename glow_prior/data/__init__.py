"""Datasets: tfds (online and offline-prepared), selection, preprocessing, synthetic data."""
import dataclasses

import numpy as np

from glow_prior.config import OTHER_LABELS, SYNTHETIC_IMAGE_SETS, DataConfig
from glow_prior.data import synthetic, tabular
from glow_prior.data.preprocess import resize_images
from glow_prior.data.selection import (
    filter_labels,
    keep_label_clusters,
    random_subset,
    random_subset_indices,
)
from glow_prior.data.sources import ImageSet, load_images, prepare_command
from glow_prior.errors import InputError

__all__ = ["ImageSet", "evaluation_sets", "load_images", "load_train_test", "ood_split",
           "prepare_command"]


def _resized(images, image_size):
    return ImageSet(resize_images(images.x, image_size), images.y, images.name, images.split)


def load_split(config, split):
    """One split of `config.dataset` with the label filter and resizing applied."""
    images = filter_labels(load_images(config.dataset, split, config.data_dir), config.labels)
    return _resized(images, config.image_size)


def _before_subset(config):
    """(train, test) with labels, resizing and k-means clusters applied, before --subset."""
    train, test = load_split(config, "train"), load_split(config, "test")
    if config.kmeans_clusters:
        train, test = keep_label_clusters(train, test, config.labels, config.kmeans_clusters,
                                          config.kmeans_keep, config.seed)
    return train, test


def load_train_test(config):
    """(train, test) ImageSets as the experiment defines them."""
    train, test = _before_subset(config)
    return random_subset(train, config.subset, config.seed), test


def held_out_training(config):
    """The training images of the run's data that a --subset run did not train on, or None
    when it trained on all of them (typicality's reference set)."""
    train, _ = _before_subset(config)
    if not config.subset or config.subset >= len(train):
        return None
    used = random_subset_indices(len(train), config.subset, config.seed)
    return train.take(np.setdiff1d(np.arange(len(train)), used))


def ood_split(name, config, split="test", shape=None, n_synthetic=2000):
    """A full split of OOD dataset `name` (all labels), resized like the in-distribution
    data: the test split for evaluation, the train split for negative training. The
    synthetic sets 'constant' and 'noise' are generated with the in-distribution `shape`."""
    if name in SYNTHETIC_IMAGE_SETS:
        if shape is None:
            raise InputError(f"the synthetic set '{name}' needs the image shape")
        seed = config.seed + (0 if split == "test" else 1)
        x = synthetic.synthetic_images(name, n_synthetic, tuple(shape), seed)
        return ImageSet(x, np.zeros(len(x), np.int64), name, split)
    ood_config = DataConfig(dataset=name, data_dir=config.data_dir,
                            image_size=config.image_size)
    return load_split(ood_config, split)


def other_labels_split(config):
    """The test images of the in-distribution dataset whose labels the run did not train
    on (Fashion-MNIST's other classes for a run on labels 1, 7)."""
    if not config.labels:
        raise InputError(f"'{OTHER_LABELS}' needs a run trained on some labels (--labels)")
    full = load_split(dataclasses.replace(config, labels=()), "test")
    images = full.take(~np.isin(full.y, config.labels))
    return ImageSet(images.x, images.y, OTHER_LABELS, "test")


def evaluation_sets(spec, ood_names=(), data_dir=None, dataset=None):
    """(train, test, {name: OOD set}) of a run (a glow_prior.config.RunSpec).

    Image runs: the run's DataConfig (data_dir / dataset may override it, e.g. for imported
    OpenAI models); OOD sets are the test splits of the tfds datasets in `ood_names`, the
    synthetic sets and 'other_labels'. Tabular runs: their TabularDataConfig defines the OOD
    sets; `ood_names` selects some.
    """
    if spec.data_kind == "arrays":
        raise InputError(f"this run trained on in-memory data ('{spec.data.name}', fingerprint "
                         f"{spec.data.fingerprint}), which its run directory does not hold; "
                         "evaluate it from Python on your arrays: glow_prior.evaluate("
                         "glow_prior.load(logdir), in_distribution, ood)")
    if spec.data_kind == "tabular":
        splits = tabular.load_tabular(spec.data)
        unknown = sorted(set(ood_names) - set(splits.ood))
        if unknown:
            raise InputError(f"this run's data has OOD sets {sorted(splits.ood)}, not "
                             f"{unknown}")
        chosen = {k: v for k, v in splits.ood.items() if not ood_names or k in ood_names}
        return splits.train, splits.test, chosen
    overrides = {k: v for k, v in (("data_dir", data_dir), ("dataset", dataset)) if v}
    config = dataclasses.replace(spec.data, **overrides)
    if not config.dataset:
        raise InputError("the run does not record its training dataset; pass --dataset")
    train, test = load_train_test(config)
    shape = train.x.shape[1:]
    return train, test, {name: other_labels_split(config) if name == OTHER_LABELS
                         else ood_split(name, config, shape=shape) for name in ood_names}
