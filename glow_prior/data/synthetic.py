"""Synthetic data of Kamoi et al. (2019), Section 3.1 and Appendix C.

In-distribution: a two-component Gaussian mixture in `dim` dimensions with means
[+-3.5, 0, ..., 0] and covariance diag(0.5, 1, ..., 1), equal weights.
Out-of-distribution: N(0, 0.01 I), which sits between the two modes where the data has
almost no mass.
"""
import numpy as np

from glow_prior.config.data import SYNTHETIC_IMAGE_SETS
from glow_prior.errors import InputError

MODE_OFFSET = 3.5
FIRST_AXIS_VARIANCE = 0.5
OOD_VARIANCE = 0.01


def two_mode_mixture(n, dim, seed):
    """(x [n, dim] float32, component [n] int64) from the paper's bimodal mixture."""
    if dim < 1:
        raise InputError(f"dim must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    component = rng.integers(0, 2, size=n)
    std = np.ones(dim)
    std[0] = np.sqrt(FIRST_AXIS_VARIANCE)
    x = rng.standard_normal((n, dim)) * std
    x[:, 0] += np.where(component == 0, -MODE_OFFSET, MODE_OFFSET)
    return x.astype(np.float32), component.astype(np.int64)


def ood_gaussian(n, dim, seed):
    """Out-of-distribution points, N(0, 0.01 I)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, dim)) * np.sqrt(OOD_VARIANCE)).astype(np.float32)


def synthetic_images(name, n, shape, seed):
    """uint8 images [n, *shape]: 'constant' (one random intensity per image, a classic
    high-likelihood OOD set for flows) or 'noise' (independent uniform pixels)."""
    rng = np.random.default_rng(seed)
    if name == "constant":
        levels = rng.integers(0, 256, size=(n,) + (1,) * len(shape))
        return np.broadcast_to(levels, (n, *shape)).astype(np.uint8)
    if name == "noise":
        return rng.integers(0, 256, size=(n, *shape)).astype(np.uint8)
    raise InputError(f"unknown synthetic image set '{name}'; use one of {SYNTHETIC_IMAGE_SETS}")
