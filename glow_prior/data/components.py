"""Each training example's prior component (Kamoi et al. 2019, Section 4): by a label map
(glow_prior.config.PriorConfig.label_map; by default the sorted labels in order) or by
k-means++ clusters of the images (glow_prior.data.selection.ImageClusters)."""
import numpy as np

from glow_prior.config.prior import parse_label_map
from glow_prior.data.selection import ImageClusters
from glow_prior.errors import InputError


def assign_components(config, x, y):
    """Component index of every training example (None for the standard prior)."""
    if not config.is_mixture:
        return None
    if config.assignment == "kmeans":
        return assign_by_kmeans(x, config.n_components, config.assignment_seed)
    mapping = parse_label_map(config.label_map) or {
        int(label): k for k, label in enumerate(sorted(np.unique(y)))}
    components = assign_by_labels(y, mapping)
    if components.size and components.max() >= config.n_components:
        raise InputError(f"label map '{config.label_map}' names component "
                         f"{components.max()} of a {config.n_components}-component prior")
    return components


def assign_by_labels(y, label_to_component):
    """Component index of every example from its label; every label must be mapped."""
    y = np.asarray(y)
    missing = sorted(set(y.tolist()) - set(label_to_component))
    if missing:
        raise InputError(f"labels {missing} have no component in the label map "
                         f"{label_to_component}")
    lookup = np.vectorize(label_to_component.__getitem__, otypes=[np.int64])
    return lookup(y) if len(y) else np.zeros([0], np.int64)


def assign_by_kmeans(x, n_components, seed):
    """Component index = k-means++ cluster of the image (clusters numbered by size)."""
    return ImageClusters(x, n_components, seed).train_assignment
