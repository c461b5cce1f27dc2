"""--gradient_checkpointing: backprop by inversion gives standard backprop's gradients.

The same weights are put into models with and without the flag, in float32 and float64, and
the gradients of one batch's loss are compared (tolerances from error analysis, not from
one machine; oneDNN picks other kernels, with other rounding, on other CPU families):

* float64: both computations are exact up to float64 round-off (the inverse rebuilds each
  step's input to ~1e-15 relative), and the gradients with respect to the float32 weights
  are rounded to float32 at the end; they must agree to float32's unit round-off 2**-24,
  in 2-norm relative to the gradient's norm (we allow 2**-23).
* float32: how far a float32 gradient is from the exact one depends on the conditioning of
  the computation (random weights on 0..255 pixels give gradients up to 6e5 in the
  RealNVP with logit preprocessing), which we measure: standard backprop's own float32
  error against the float64 gradient of the same weights and inputs. Backprop by inversion
  repeats standard backprop's operations at inputs rebuilt by the inverse, whose rounding
  error is of the order of the forward pass's; with the forward error, the inverse's and
  the recomputation's it is at most about three times standard backprop's, and we allow
  four times (plus float32's 2**-23 where standard backprop happens to be exact).
  Measured (AMD EPYC Zen 3, AVX2 and SSE4.1 kernels): ratios 0.5-2.7; the RealNVP's
  float32 gradients differ from float64 by 5e-5-2e-4 of their norm in either method.
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

# Float rounding decides these: CI runs them under several oneDNN instruction sets.
pytestmark = pytest.mark.numerics


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


UNIT_ROUNDOFF32 = 2.0 ** -24


def _models(name, mixed_precision="none", float_dtype="float32"):
    """(standard model, model with gradient checkpointing) computing in `float_dtype`, both
    with the weights of one float32 model (initialised from data, then randomised)."""
    rng = np.random.default_rng(0)
    spec = SPECS[name]
    source = build_model(spec)
    batch = _batch(source, rng)
    if source.needs_initialization():
        source.initialize(batch)
    randomize(source, scale=0.05)
    weights = values_by_name(source)
    pair = []
    for checkpointing in (False, True):
        model = build_model(spec, mixed_precision, float_dtype,
                            gradient_checkpointing=checkpointing)
        assign_by_name(model, weights, "the source model")
        model.initialized.assign(True)
        pair.append(model)
    return (*pair, _cast(batch, float_dtype))


def _batch(model, rng, n=6):
    if model.dtype == tf.uint8:
        x = rng.integers(0, 256, (n, *model.example_shape)).astype(np.uint8)
        noise = rng.uniform(0, 1 / 256, x.shape).astype(np.float32)
    else:
        x = rng.normal(size=(n, *model.example_shape)).astype(np.float32)
        noise = None
    labels = rng.integers(0, 2, n) if model.conditional else None
    components = rng.integers(0, 2, n) if model.prior.n_components > 1 else None
    return Batch(tf.constant(x), labels=labels, components=components,
                 noise=None if noise is None else tf.constant(noise))


def _cast(batch, float_dtype):
    """The same batch for a model computing in float_dtype (float32 values, exactly)."""
    def cast(value):
        return None if value is None or not value.dtype.is_floating else tf.cast(value,
                                                                                  float_dtype)
    return Batch(batch.x if batch.x.dtype == tf.uint8 else cast(batch.x), batch.labels,
                 batch.components, cast(batch.noise))


def _gradients(model, batch, objective=MaximumLikelihood()):
    with tf.GradientTape() as tape:
        loss, _ = objective(model, batch, tf.constant([0, 0], tf.int64))
    grads = tape.gradient(loss, model.trainable_variables)
    return np.concatenate([g.numpy().ravel().astype(np.float64) for g in grads
                           if g is not None])


def _relative_error(got, exact):
    return float(np.linalg.norm(got - exact) / np.linalg.norm(exact))


def _assert_as_accurate(by_inversion, standard, exact, factor=4.0):
    """Backprop by inversion's error against the exact gradient is at most `factor` times
    standard backprop's (see the module docstring), or float32's 2**-23."""
    limit = factor * max(_relative_error(standard, exact), 2 * UNIT_ROUNDOFF32)
    assert _relative_error(by_inversion, exact) <= limit, (
        f"by inversion {_relative_error(by_inversion, exact):.3g}, standard "
        f"{_relative_error(standard, exact):.3g} (relative to the exact gradient's norm)")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_gradients_by_inversion_equal_standard_backprop_in_float64(name):
    plain, checkpointed, batch = _models(name, float_dtype="float64")
    exact = _gradients(plain, batch)
    assert _relative_error(_gradients(checkpointed, batch), exact) <= 2 * UNIT_ROUNDOFF32


@pytest.mark.parametrize("name", sorted(SPECS))
def test_gradients_by_inversion_are_as_accurate_as_standard_backprop_in_float32(name):
    exact = _gradients(*_models(name, float_dtype="float64")[::2])
    plain, checkpointed, batch = _models(name)
    _assert_as_accurate(_gradients(checkpointed, batch), _gradients(plain, batch), exact)


def test_inside_a_compiled_step_and_with_negative_training():
    objective = NegativeTraining(threshold=-1e9)

    def gradients(model, batch):
        negatives = Batch(batch.x, noise=batch.noise, negatives=batch.x[::-1],
                          negative_noise=batch.noise)

        @tf.function
        def compiled():
            with tf.GradientTape() as tape:
                loss, _ = objective(model, negatives, tf.constant([0, 0], tf.int64))
            return tape.gradient(loss, model.trainable_variables)

        return np.concatenate([g.numpy().ravel().astype(np.float64) for g in compiled()
                               if g is not None])

    plain64, _, batch64 = _models("glow_three_axis_lu", float_dtype="float64")
    plain, checkpointed, batch = _models("glow_three_axis_lu")
    exact = gradients(plain64, batch64)
    _assert_as_accurate(gradients(checkpointed, batch), gradients(plain, batch), exact)


def test_mixed_precision_with_gradient_checkpointing():
    """bfloat16 convolutions (8 bits of mantissa) in both: the same criterion against the
    float64 gradient, with bfloat16's rounding in place of float32's."""
    exact = _gradients(*_models("glow_affine", float_dtype="float64")[::2])
    plain, checkpointed, batch = _models("glow_affine", mixed_precision="bfloat16")
    _assert_as_accurate(_gradients(checkpointed, batch), _gradients(plain, batch), exact)


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
