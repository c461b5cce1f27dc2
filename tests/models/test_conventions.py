"""TFP's conventions where a TFP user expects them: fresh randomness without a seed, labels
checked against the model's classes, converted float vectors, a VAE that cannot be built
without a latent size, `initialize` on arrays, `flow_distribution` over the flow's input
only, `copy`, and the conventions in what help() shows."""
import numpy as np
import pytest
import tensorflow as tf

import glow_prior
from glow_prior.config import GlowConfig, PriorConfig, TabularFlowConfig, VAEConfig
from glow_prior.errors import InputError
from glow_prior.models.registry import copy_model
from glow_prior.models.vae import VAE
from glow_prior.models.priors import build_prior

IMAGE = (4, 4, 1)


@pytest.fixture(scope="module")
def conditional():
    """A 3-class class-conditional Glow (ycond)."""
    return glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4, ycond=True),
                            example_shape=IMAGE, n_classes=3)


def _pixels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *IMAGE)).astype(np.uint8)


def test_sample_without_a_seed_is_fresh_and_with_one_repeatable():
    model = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
    assert not np.array_equal(model.sample(3).numpy(), model.sample(3).numpy())
    np.testing.assert_array_equal(model.sample(3, seed=5).numpy(),
                                  model.sample(3, seed=5).numpy())
    sample = tf.function(lambda: model.sample(2))
    assert not np.array_equal(sample().numpy(), sample().numpy())


def test_labels_outside_the_classes_are_refused(conditional):
    x = _pixels(2)
    assert conditional.n_classes == 3
    assert conditional.log_prob(x, labels=[0, 2]).shape == (2,)
    for labels in ([0, 3], [-1, 0], [7, 7]):
        with pytest.raises(InputError, match=r"labels must be in 0\.\.2"):
            conditional.log_prob(x, labels=labels)
    with pytest.raises(InputError, match=r"labels must be in 0\.\.2"):
        conditional.sample(2, seed=1, labels=[1, 3])
    with pytest.raises(InputError, match="class-conditional: pass labels"):
        conditional.log_prob(x)


def test_an_input_error_inside_a_compiled_function_reaches_the_caller_as_itself():
    """AutoGraph wraps an exception raised while tracing in its StagingError; compiled
    model functions give the project's error back."""
    model = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
    with pytest.raises(InputError, match="not class-conditional"):
        model.compiled("log_prob")(tf.constant(_pixels(2)), labels=tf.constant([0, 1]),
                                   seed=None)


def test_a_vae_needs_its_latent_size():
    with pytest.raises(InputError, match="latent_dim is 0"):
        VAE(VAEConfig(), build_prior(PriorConfig(), 50))
    vae = glow_prior.build(VAEConfig(importance_samples=4), example_shape=(28, 28, 1))
    assert vae.architecture.latent_dim == 50
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype(np.uint8)
    log_likelihood = vae.log_prob(images).numpy()
    assert len(set(np.round(log_likelihood, 3))) == 3  # a real latent: per-image values


def test_initialize_takes_arrays_and_sets_actnorm_from_them():
    model = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
    assert model.needs_initialization()
    x = _pixels(64)
    model.initialize(x)
    assert not model.needs_initialization()
    # After OpenAI's init the first actnorm's output has zero mean and unit variance over
    # the init batch: the latent (the flow's output) is standardised to the init's noise.
    z = model.encode(x, seed=0).numpy()
    assert abs(z.mean()) < 0.2 and 0.5 < z.std() < 1.5
    with pytest.warns(UserWarning, match="not been initialised"):
        fresh = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
        fresh.train_log_likelihood(glow_prior.models.batch.Batch(tf.constant(x)),
                                   tf.constant([0, 0], tf.int64))


def test_flow_distribution_is_over_the_flow_input_and_refuses_pixels():
    model = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
    x = _pixels(3)
    x_in = x.astype(np.float32) / 256.0 - 0.5
    np.testing.assert_allclose(model.flow_distribution.log_prob(x_in).numpy()
                               - model.discretization_nats, model.log_prob(x).numpy(),
                               rtol=1e-5)
    with pytest.raises(InputError, match="not over uint8 pixels"):
        model.flow_distribution.log_prob(x)


def test_float64_vectors_are_converted_as_tfp_converts():
    model = glow_prior.build(TabularFlowConfig(n_couplings=2, hidden_units=4),
                             example_shape=(3,))
    values = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_array_equal(model.log_prob(values).numpy(),
                                  model.log_prob(values.astype(np.float32)).numpy())


def test_copy_refuses_in_one_line_and_copy_model_copies():
    model = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
    model.initialize(_pixels(16))
    with pytest.raises(InputError, match="copy_model"):
        model.copy()
    twin = copy_model(model)
    np.testing.assert_array_equal(twin.log_prob(_pixels(4)).numpy(),
                                  model.log_prob(_pixels(4)).numpy())
    assert not twin.needs_initialization()
    wide = copy_model(model, dtype="float64")
    assert wide.log_prob(_pixels(4)).dtype == tf.float64


def test_help_shows_the_conventions():
    model = glow_prior.build(GlowConfig(n_levels=1, depth=1, width=4), example_shape=IMAGE)
    for method, words in ((model.log_prob, ("nats", "seed", "labels", "lower edge")),
                          (model.sample, ("fresh randomness", "temperature", "labels")),
                          (model.initialize, ("data-dependent", "actnorm"))):
        for word in words:
            assert word in method.__doc__, (method.__name__, word)
