import numpy as np
import pytest
import tensorflow as tf

from glow_prior.data import preprocess
from glow_prior.models import quantization
from glow_prior.data.synthetic import ood_gaussian, two_mode_mixture


def test_flow_input_follows_openai():
    x = np.array([0, 1, 128, 255], np.uint8).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(quantization.to_flow_input(x, 8), x / 256.0 - 0.5)
    # n_bits_x = 5: floor(x / 8) / 32 - 0.5
    np.testing.assert_allclose(quantization.to_flow_input(x, 5), np.floor(x / 8.0) / 32 - 0.5)


@pytest.mark.parametrize("n_bits", [8, 5])
def test_postprocess_inverts_dequantised_input(n_bits):
    x = np.random.default_rng(0).integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)
    noise = quantization.uniform_noise(x.shape, n_bits, seed=(1, 2))
    assert 0 <= float(tf.reduce_min(noise)) and float(tf.reduce_max(noise)) < 1 / 2 ** n_bits
    restored = quantization.postprocess(quantization.to_flow_input(x, n_bits, noise), n_bits)
    step = 2 ** (8 - n_bits)
    np.testing.assert_array_equal(restored.numpy(), (x // step) * step)


def test_resize_pads_like_openai_and_average_pools():
    # MNIST-like: a black frame around the digit, so OpenAI's np.pad(..., 'minimum')
    # (the minimum of each row / column) pads with 0.
    x = np.zeros((2, 28, 28, 1), np.uint8)
    x[:, 4:24, 4:24] = np.random.default_rng(1).integers(1, 256, (2, 20, 20, 1))
    padded = preprocess.resize_images(x, 32)
    assert padded.shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], x)
    assert padded[:, :2].max() == 0 and padded[:, :, 30:].max() == 0
    pooled = preprocess.resize_images(padded, 16)
    expected = np.floor(padded.reshape(2, 16, 2, 16, 2, 1).mean(axis=(2, 4)))
    np.testing.assert_array_equal(pooled, expected)
    with pytest.raises(ValueError, match="must divide"):
        preprocess.resize_images(x, 20)


def test_random_shift_moves_content_and_is_seeded():
    x = np.zeros((2, 10, 10, 1), np.uint8)
    x[:, 4:6, 4:6] = 255
    assert np.array_equal(preprocess.random_shift(x, 0.0, seed=(0, 0)).numpy(), x)
    shifted = preprocess.random_shift(x, 0.3, seed=(0, 1)).numpy()
    assert shifted.shape == x.shape and shifted.dtype == np.uint8
    assert not np.array_equal(shifted, x)
    np.testing.assert_array_equal(shifted, preprocess.random_shift(x, 0.3, seed=(0, 1)))


def test_image_checks_name_the_problem():
    with pytest.raises(ValueError, match="must be uint8.*float32"):
        preprocess.check_uint8_images(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        preprocess.check_uint8_images(np.zeros((2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match=r"model expects \(28, 28, 1\)"):
        preprocess.check_uint8_images(np.zeros((1, 32, 32, 3), np.uint8), (28, 28, 1))


def test_synthetic_mixture_has_the_papers_moments():
    x, component = two_mode_mixture(200000, 10, seed=0)
    for k, sign in ((0, -1), (1, 1)):
        part = x[component == k]
        np.testing.assert_allclose(part.mean(axis=0), [3.5 * sign] + [0] * 9, atol=0.02)
        np.testing.assert_allclose(part.var(axis=0), [0.5] + [1] * 9, atol=0.02)
    ood = ood_gaussian(100000, 2, seed=1)
    np.testing.assert_allclose(ood.var(axis=0), [0.01, 0.01], rtol=0.03)
