"""--gradient_checkpointing: backprop by inversion gives standard backprop's gradients.

The same weights are put into two models, one with the flag; the gradients of the batch
loss must agree. Tolerances: the backward pass recomputes each step at the input rebuilt
by the inverse, which differs from the stored input by rounding (float32: ~1e-6 relative
per step, compounded over the few steps of these models and the coupling networks'
gradients); we allow 2e-4 of the largest gradient entry in float32. With float64 inputs the
rebuilt inputs are exact to ~1e-15, but gradients with respect to float32 variables are
float32: 1e-5 of the largest entry.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.models.batch import Batch
from glow_prior.config import (
    GlowConfig,
    PriorConfig,
    RealNVPConfig,
    TabularFlowConfig,
)
from glow_prior.models.registry import build_model
from glow_prior.training.objectives import MaximumLikelihood, NegativeTraining
from glow_prior.models.weights import assign_by_name, values_by_name
from tests.conftest import randomize
from tests.models.test_tfp_conformance import run_spec


GLOW = dict(image_shape=(8, 8, 1), n_levels=2, depth=2, width=8)
SPECS = {
    "glow_affine": run_spec("glow", GlowConfig(**GLOW, flow_coupling=1, learntop=True)),
    "glow_additive_shuffle": run_spec("glow", GlowConfig(**GLOW, flow_coupling=0,
                                                         flow_permutation=1)),
    "glow_three_axis_lu": run_spec("glow", GlowConfig(**GLOW, flow_coupling=1,
                                                      scale_offset=0.1, multiscale=False,
                                                      three_axis_1x1=True,
                                                      lu_decomposed=True)),
    "glow_ycond_mixture": run_spec("glow", GlowConfig(**GLOW, flow_coupling=1, ycond=True,
                                                      n_y=2, multiscale=False),
                                   prior=PriorConfig(kind="gaussian_mixture", distance=6.0)),
    "realnvp_checkerboard": run_spec("realnvp", RealNVPConfig(image_shape=(8, 8, 1),
                                                              n_scales=2, st_blocks=1,
                                                              st_width=4)),
    "realnvp_cycle": run_spec("realnvp", RealNVPConfig(image_shape=(8, 8, 1), mask="cycle",
                                                       n_couplings=4, st_blocks=1,
                                                       st_width=4)),
    "realnvp_horizontal": run_spec("realnvp", RealNVPConfig(image_shape=(8, 8, 1),
                                                            mask="horizontal", n_couplings=3,
                                                            st_blocks=1, st_width=4,
                                                            bottleneck=3)),
    "tabular": run_spec("tabular", TabularFlowConfig(num_dims=4, n_couplings=4,
                                                     hidden_units=8)),
}


def _pair(name, mixed_precision="none", float_dtype="float32"):
    """(standard model, model with gradient checkpointing) with the same weights."""
    rng = np.random.default_rng(0)
    spec = SPECS[name]
    plain = build_model(spec, mixed_precision, float_dtype)
    batch = _batch(plain, rng)
    if plain.needs_initialization():
        plain.initialize(batch)
    randomize(plain, scale=0.05)
    checkpointed = build_model(spec, mixed_precision, float_dtype, gradient_checkpointing=True)
    assign_by_name(checkpointed, values_by_name(plain), "the standard model")
    return plain, checkpointed, batch


def _batch(model, rng, n=6):
    if model.dtype == tf.uint8:
        x = rng.integers(0, 256, (n, *model.example_shape)).astype(np.uint8)
        noise = rng.uniform(0, 1 / 256, x.shape).astype(model.float_dtype.as_numpy_dtype)
    else:
        x = rng.normal(size=(n, *model.example_shape)).astype(model.dtype.as_numpy_dtype)
        noise = None
    labels = rng.integers(0, 2, n) if model.conditional else None
    components = rng.integers(0, 2, n) if model.prior.n_components > 1 else None
    return Batch(tf.constant(x), labels=labels, components=components,
                 noise=None if noise is None else tf.constant(noise))


def _gradients(model, batch, objective=MaximumLikelihood()):
    with tf.GradientTape() as tape:
        loss, _ = objective(model, batch, tf.constant([0, 0], tf.int64))
    grads = tape.gradient(loss, model.trainable_variables)
    return [g.numpy() for g in grads if g is not None]


def _assert_close(got, expected, relative):
    scale = max(float(np.max(np.abs(g))) for g in expected)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=relative * scale, rtol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_gradients_by_inversion_equal_standard_backprop(name, dtype):
    plain, checkpointed, batch = _pair(name, float_dtype=dtype)
    expected = _gradients(plain, batch)
    got = _gradients(checkpointed, batch)
    _assert_close(got, expected, 2e-4 if dtype == "float32" else 1e-5)


def test_inside_a_compiled_step_and_with_negative_training():
    plain, checkpointed, batch = _pair("glow_three_axis_lu")
    negatives = Batch(batch.x, noise=batch.noise, negatives=batch.x[::-1],
                      negative_noise=batch.noise)
    objective = NegativeTraining(threshold=-1e9)

    @tf.function
    def compiled(model):
        with tf.GradientTape() as tape:
            loss, _ = objective(model, negatives, tf.constant([0, 0], tf.int64))
        return tape.gradient(loss, model.trainable_variables)

    expected = [g.numpy() for g in compiled(plain) if g is not None]
    got = [g.numpy() for g in compiled(checkpointed) if g is not None]
    _assert_close(got, expected, 2e-4)


def test_mixed_precision_with_gradient_checkpointing():
    plain, checkpointed, batch = _pair("glow_affine", mixed_precision="bfloat16")
    expected = _gradients(plain, batch)
    got = _gradients(checkpointed, batch)
    # bfloat16 convolutions (8 bits of mantissa) in both: the rebuilt inputs go through
    # them again, so agreement is to bfloat16's precision.
    _assert_close(got, expected, 5e-2)


MEMORY_PROBE = """
import json, sys
from glow_prior.benchmark import measure
records = [measure.measure_memory(dict(n_levels=1, depth=depth, width=32, image_size=16,
                                          channels=3, batch=16, steps=1,
                                          gradient_checkpointing=checkpointing))
           for depth in (2, 8) for checkpointing in (False, True)]
print(json.dumps(records))
"""


@pytest.mark.slow
def test_a_training_steps_activations_stay_flat_in_depth_with_checkpointing():
    """TensorFlow's BFC allocator counts every tensor a Trainer step holds above the model's
    state (glow_prior.benchmark.measure.measure_memory). Standard backprop keeps every step's activations, so
    going from depth 2 to 8 roughly quadruples them; by inversion only one step's are alive
    at a time (plus the chain's input and output and the weights' gradients), so they
    barely grow (measured: 1.20 -> 4.41 MB standard, 0.79 -> 1.04 MB by inversion). Without ordering the
    inversion after each step's upstream gradient (reversible.py), TensorFlow's executor ran
    every inversion at once and held as much as standard backprop: this test failed then."""
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True,
                            text=True, env=dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true"))
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads(result.stdout.strip().splitlines()[-1])
    memory = {(r["depth"], r["gradient_checkpointing"]): r["activation_mb"] for r in records}
    assert memory[8, False] > 2.5 * memory[2, False], memory
    assert memory[8, True] < 0.5 * memory[8, False], memory
    growth = {on: memory[8, on] - memory[2, on] for on in (False, True)}
    assert growth[True] < 0.25 * growth[False], memory
