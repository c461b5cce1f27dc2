"""Each training example's prior component: by label map or by k-means++ cluster."""
import numpy as np
import pytest

from glow_prior.config import PriorConfig
from glow_prior.data.components import assign_components
from glow_prior.errors import InputError


def test_label_assignment():
    config = PriorConfig(kind="gaussian_mixture", label_map="1:0,7:1")
    assert assign_components(config, None, np.array([7, 1, 1, 7])).tolist() == [
        1, 0, 0, 1]
    unmapped = PriorConfig(kind="gaussian_mixture")  # sorted labels numbered 0, 1, ...
    assert assign_components(unmapped, None, np.array([7, 1])).tolist() == [1, 0]
    with pytest.raises(InputError, match=r"labels \[3\] have no component"):
        assign_components(config, None, np.array([1, 3]))
    assert assign_components(PriorConfig(), None, np.array([1, 7])) is None


def test_kmeans_assignment_is_deterministic_under_a_seed():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(0, 50, (40, 4, 4, 1)),
                        rng.integers(200, 256, (25, 4, 4, 1))]).astype(np.uint8)
    config = PriorConfig(kind="gaussian_mixture", assignment="kmeans", assignment_seed=7)
    first = assign_components(config, x, None)
    second = assign_components(config, x, None)
    np.testing.assert_array_equal(first, second)
    assert first[:40].tolist() == [0] * 40 and first[40:].tolist() == [1] * 25
