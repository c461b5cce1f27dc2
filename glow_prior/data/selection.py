"""Choosing which images an experiment uses: label filters, seeded subsets, k-means clusters.

Kamoi et al. (2019) train on a few labels of a dataset (Fashion-MNIST labels 1 and 7, or
0, 1, 7, 8) and, for CIFAR-10, on one k-means++ cluster of each of labels 0 and 4 (their
Appendix E: k = 4 clusters per label, the images of one cluster kept).
"""
import numpy as np
from sklearn.cluster import KMeans

from glow_prior.errors import InputError


def filter_labels(images, labels):
    """The images whose label is in `labels` (all images if `labels` is empty/None)."""
    if not labels:
        return images
    present = set(images.y.tolist())
    absent = [label for label in labels if label not in present]
    if absent:
        raise InputError(f"{images.name}/{images.split} has no image with label(s) {absent}; "
                         f"its labels are {sorted(present)}")
    return images.take(np.isin(images.y, np.asarray(labels)))


def random_subset(images, size, seed):
    """A uniformly drawn subset of `size` images (order kept); all of them if size <= 0."""
    if not size or size <= 0 or size >= len(images):
        return images
    return images.take(random_subset_indices(len(images), size, seed))


def random_subset_indices(n, size, seed):
    """The sorted indices of a seeded subset of `size` of n items."""
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _features(x):
    return x.reshape(len(x), -1).astype(np.float32) / 255.0


class ImageClusters:
    """k-means++ clusters of images (scikit-learn), numbered by decreasing cluster size.

    scikit-learn's cluster ids are arbitrary; renumbering by size (ties broken by the
    centroid's mean intensity) makes "keep cluster 1" mean the same thing on every run.
    """

    def __init__(self, x, n_clusters, seed, n_init=10):
        if len(x) < n_clusters:
            raise InputError(f"cannot form {n_clusters} clusters from {len(x)} images")
        self.kmeans = KMeans(n_clusters=n_clusters, init="k-means++", n_init=n_init,
                             random_state=seed).fit(_features(x))
        sizes = np.bincount(self.kmeans.labels_, minlength=n_clusters)
        brightness = self.kmeans.cluster_centers_.mean(axis=1)
        order = np.lexsort((brightness, -sizes))  # largest first
        self._rank = np.empty(n_clusters, np.int64)
        self._rank[order] = np.arange(n_clusters)

    @property
    def train_assignment(self):
        """Cluster number of every image the clusters were fitted on."""
        return self._rank[self.kmeans.labels_]

    def assign(self, x):
        """Cluster number of each image in `x` (nearest centroid)."""
        return self._rank[self.kmeans.predict(_features(x))]


def keep_label_clusters(train, test, labels, n_clusters, keep, seed):
    """For each label, clusters its training images and keeps cluster number `keep`.

    Test images of the label are assigned to the nearest training centroid, so train and
    test keep the same cluster. Returns the reduced (train, test).
    """
    if not 0 <= keep < n_clusters:
        raise InputError(f"kmeans_keep={keep} must be in [0, {n_clusters})")
    train_keep = np.zeros(len(train), bool)
    test_keep = np.zeros(len(test), bool)
    for label in labels:
        in_train, in_test = train.y == label, test.y == label
        clusters = ImageClusters(train.x[in_train], n_clusters, seed)
        train_keep[np.flatnonzero(in_train)[clusters.train_assignment == keep]] = True
        if in_test.any():
            test_keep[np.flatnonzero(in_test)[clusters.assign(test.x[in_test]) == keep]] = True
    return train.take(train_keep), test.take(test_keep)
