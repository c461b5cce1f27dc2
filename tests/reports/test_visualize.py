"""Visualisations: the reshape-only layout map, coupling maps, receptive fields, resampling.

Freshly built flows have identity couplings (zero-initialised last layers) and actnorms, so
RealNVP's latent z is the elementwise logit of x, rearranged by squeezes and splits: a
latent coordinate then depends on exactly one pixel, and resampling latents changes only
the pixels they map to. The tests use this as the ground truth.
"""
import functools

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.reports import visualize
from glow_prior.models.batch import Batch
from glow_prior.config import GlowConfig, PriorConfig, RealNVPConfig
from glow_prior.models.glow import build_glow
from glow_prior.models.realnvp import build_realnvp
from glow_prior.models.priors import build_prior

X = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)


def _realnvp():
    return build_realnvp(RealNVPConfig(image_shape=(8, 8, 1), n_scales=2, st_blocks=1,
                                       st_width=4), functools.partial(build_prior, PriorConfig()))


def _glow():
    return build_glow(GlowConfig(image_shape=(8, 8, 2), n_levels=2, depth=1, width=4,
                                 flow_coupling=1), functools.partial(build_prior, PriorConfig()))


def _kamoi_glow():
    """The main experiment's variant: no multi-scale split, three-axis 1x1 convolutions
    (visualize failed on it with an IndexError, issue 22.12)."""
    return build_glow(GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1, width=4,
                                 flow_coupling=1, multiscale=False, three_axis_1x1=True,
                                 scale_offset=0.1),
                      functools.partial(build_prior, PriorConfig()))


@pytest.mark.parametrize("build", [_realnvp, _glow, _kamoi_glow])
def test_layout_map_is_a_permutation_of_the_latent(build):
    model = build()
    index_image = visualize.latent_index_image(model)
    assert index_image.shape == model.event_shape
    assert sorted(index_image.ravel().tolist()) == list(range(model.num_dims))


def test_fresh_realnvp_latents_are_pixels_in_place():
    model = _realnvp()
    latents = visualize.latent_images(model, X, noise_draws=1)
    noise = model.dequantization_noise(X, tf.constant([0, 0], tf.int64))
    p = 0.05 + 0.9 * (model.flow_input(X, noise) + 0.5)
    np.testing.assert_allclose(latents, np.log(p) - np.log1p(-p), rtol=1e-5, atol=1e-5)


def test_coupling_maps_cover_every_coupling_in_image_layout():
    model = _realnvp()
    records = visualize.coupling_maps(model, X)
    assert len(records) == 10  # 3 checkerboard + 3 channel-wise, then 4 checkerboard
    for _, output, s, t in records:
        assert output.shape == s.shape == t.shape == (2, 8, 8, 1)
        assert not np.any(s) and not np.any(t)  # identity couplings at initialisation


def test_every_view_of_a_glow_without_multiscale_split():
    model = _kamoi_glow()
    model.initialize(Batch(tf.constant(X)))
    assert visualize.latent_images(model, X, noise_draws=1).shape == X.shape
    records = visualize.coupling_maps(model, X)
    assert len(records) == 2  # one coupling per level
    for _, output, s, t in records:
        assert output.shape == s.shape == t.shape == X.shape


def test_receptive_field_of_a_fresh_flow_is_one_pixel():
    model = _realnvp()
    index_image = visualize.latent_index_image(model)
    coordinate = int(index_image[3, 5, 0])
    field = visualize.jacobian_map(model, X[:1], coordinate)[0]
    assert np.count_nonzero(field) == 1 and field[3, 5] > 0


def test_resampling_the_centre_changes_only_the_centre():
    model = _realnvp()
    resampled = visualize.resample_center(model, X, seed=1, temperature=1.0)
    changed = np.any(resampled != X, axis=(0, 3))
    side = int(round(10 / 32 * 8))
    top = (8 - side) // 2
    outside = np.ones((8, 8), bool)
    outside[top:top + side, top:top + side] = False
    assert not changed[outside].any() and changed[~outside].any()
