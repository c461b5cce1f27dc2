import numpy as np
import pytest

from glow_prior.data.selection import (
    ImageClusters,
    filter_labels,
    keep_label_clusters,
    random_subset,
)
from glow_prior.data.sources import ImageSet


def _images(labels, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (len(labels), 4, 4, 1), dtype=np.uint8)
    return ImageSet(x, np.asarray(labels, np.int64), "toy", "train")


def test_filter_labels_keeps_only_requested_labels():
    images = _images([0, 1, 7, 1, 3, 7])
    kept = filter_labels(images, (1, 7))
    assert kept.y.tolist() == [1, 7, 1, 7]
    np.testing.assert_array_equal(kept.x, images.x[[1, 2, 3, 5]])
    assert filter_labels(images, ()) is images
    with pytest.raises(ValueError, match=r"has no image with label\(s\) \[9\]"):
        filter_labels(images, (9,))
    with pytest.raises(ValueError, match=r"label\(s\) \[42\]"):  # one absent label is enough
        filter_labels(images, (1, 42))


def test_random_subset_is_seeded():
    images = _images(list(range(100)))
    first, second = random_subset(images, 10, seed=3), random_subset(images, 10, seed=3)
    np.testing.assert_array_equal(first.y, second.y)
    assert len(first) == 10 and len(set(first.y.tolist())) == 10
    assert not np.array_equal(first.y, random_subset(images, 10, seed=4).y)
    assert random_subset(images, 0, seed=3) is images


def _two_groups(n_bright, n_dark, seed):
    rng = np.random.default_rng(seed)
    bright = rng.integers(200, 256, (n_bright, 4, 4, 1))
    dark = rng.integers(0, 40, (n_dark, 4, 4, 1))
    return np.concatenate([bright, dark]).astype(np.uint8)


def test_kmeans_clusters_are_numbered_by_size_and_deterministic():
    x = _two_groups(30, 10, seed=1)
    clusters = ImageClusters(x, 2, seed=0)
    assert clusters.train_assignment[:30].tolist() == [0] * 30  # largest cluster is 0
    assert clusters.train_assignment[30:].tolist() == [1] * 10
    np.testing.assert_array_equal(clusters.train_assignment,
                                  ImageClusters(x, 2, seed=0).train_assignment)
    np.testing.assert_array_equal(clusters.assign(x), clusters.train_assignment)


def test_keep_label_clusters_keeps_one_cluster_per_label_in_train_and_test():
    x = _two_groups(12, 6, seed=2)
    train = ImageSet(np.concatenate([x, x]), np.array([0] * 18 + [4] * 18), "toy", "train")
    test_x = _two_groups(3, 2, seed=3)
    test = ImageSet(test_x, np.zeros(5, np.int64), "toy", "test")
    kept_train, kept_test = keep_label_clusters(train, test, (0, 4), 2, keep=1, seed=0)
    assert len(kept_train) == 12 and (kept_train.x < 40).all()  # the dark minority
    assert len(kept_test) == 2 and (kept_test.x < 40).all()
    with pytest.raises(ValueError, match="kmeans_keep=2"):
        keep_label_clusters(train, test, (0,), 2, keep=2, seed=0)
