"""TFP conformance: every bijector and every model against the checks TFP applies to its own.

Written after tensorflow_probability/python/bijectors/bijector_test_util.py (our code is our
own): for each bijector, at batch shapes (), [3], [2, 3], in float32 and float64,

* bijective and finite: inverse(forward(x)) == x, forward(inverse(y)) == y, and
  fldj(x) == -ildj(forward(x)), all finite (assert_bijective_and_finite);
* TFP shape semantics: outputs have shape batch_shape + event_shape, log-determinants the
  batch shape, every example's values equal those of the same example in a flat batch, and
  TFP's forward_log_det_jacobian(x, event_ndims) sums the extra batch axes when asked to;
* the log-determinant equals log|det J| of the autodiff Jacobian (get_fldj_theoretical);
* inside tfb.Chain and tfb.Invert they compose as TFP composes.

Models, as TFP distributions over the user's data: event/batch shape and dtype,
log_prob over sample shapes (), [3], [2, 3] equal to the per-example values, sample shapes,
the seed convention, float64, refused inputs; sample/log-prob consistency (box
probabilities from samples vs from the density, the continuous analogue of TFP's
run_test_sample_consistent_log_prob) and a density that integrates to 1 (the change of
measure that assert_scalar_congruency checks, in two dimensions).

Tolerances: round trips through a few float32 layers err by ~1e-6 on inputs of order 1
(we allow 1e-4; float64: 1e-9). fldj and ildj are computed by different code paths
(forward vs inverse network evaluations) on values of order 1-100: 1e-4 relative in
float32, 1e-9 in float64. The autodiff log|det J| of a D <= 32 map from a float32 Jacobian
moves slogdet by ~D * 1e-6 (1e-3 absolute allowed; float64: 1e-7). Per-example values from
batches of other sizes differ by float summation order only (rtol 1e-5; float64 1e-12).
"""
import functools
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from glow_prior.models.batch import Batch
from glow_prior.bijectors import masks
from glow_prior.bijectors.actnorm import ActNorm
from glow_prior.bijectors.base import FlowChain, FlowContext
from glow_prior.bijectors.conditioners import MLP, GlowCouplingNet, ResNetST, SplitPrior
from glow_prior.bijectors.couplings import (
    ChannelHalves,
    Coupling,
    MaskPair,
    Shift,
    SigmoidScale,
    Standardize,
    TanhScale,
    VectorHalves,
)
from glow_prior.bijectors.logit import LogitPreprocess
from glow_prior.bijectors.multiscale import TopLatent
from glow_prior.bijectors.permutations import (
    AxisInvertible1x1Conv,
    Invertible1x1Conv,
    ReverseChannels,
    ShuffleChannels,
)
from glow_prior.bijectors.squeeze import Squeeze
from glow_prior.config import (
    DataConfig,
    GlowConfig,
    PriorConfig,
    RealNVPConfig,
    RunSpec,
    TabularDataConfig,
    TabularFlowConfig,
    TrainConfig,
    VAEConfig,
)
from glow_prior.errors import InputError
from glow_prior.models.glow import build_glow_flow, flow_step
from glow_prior.models.realnvp import build_realnvp_flow
from glow_prior.models.registry import build, build_model
from glow_prior.models.weights import assign_by_name, values_by_name
from tests.conftest import randomize

# Float rounding decides these: CI runs them under several oneDNN instruction sets.
pytestmark = pytest.mark.numerics

tfb = tfp.bijectors
BATCH_SHAPES = [(), (3,), (2, 3)]
DTYPES = [tf.float32, tf.float64]
IMAGE = (4, 4, 2)
CONTEXT = FlowContext()
TOLERANCE = {tf.float32: dict(round_trip=1e-4, log_det=1e-4, jacobian=1e-3, batch=1e-5),
             tf.float64: dict(round_trip=1e-9, log_det=1e-9, jacobian=1e-7, batch=1e-12)}


def _rng():
    return np.random.RandomState(0)


def _masked(pair_fn, bottleneck=0):
    st = ResNetST("c/st", IMAGE, 4, 2, _rng(), CONTEXT, bottleneck=bottleneck)
    return Coupling(MaskPair(*pair_fn(IMAGE)), st, TanhScale("c", [1, 1, 1, IMAGE[-1]]))


def _glow_config(**changes):
    return GlowConfig(image_shape=IMAGE, n_levels=2, depth=1, width=4, flow_coupling=1,
                      learntop=True, seed=1).replace(**changes)


# name -> (factory, event shape, input sampler, number of classes or 0)
BIJECTORS = {
    "actnorm": (lambda: ActNorm("a", 2, CONTEXT), IMAGE, "normal", 0),
    "reverse": (ReverseChannels, IMAGE, "normal", 0),
    "shuffle": (lambda: ShuffleChannels("s", 2, _rng()), IMAGE, "normal", 0),
    "invconv": (lambda: Invertible1x1Conv("i", 2, _rng()), IMAGE, "normal", 0),
    "invconv_lu": (lambda: Invertible1x1Conv("l", 2, _rng(), lu=True), IMAGE, "normal", 0),
    "invconv_height": (lambda: AxisInvertible1x1Conv("h", 4, 1, _rng()), IMAGE, "normal", 0),
    "invconv_width": (lambda: AxisInvertible1x1Conv("w", 4, 2, _rng(), lu=True), IMAGE,
                      "normal", 0),
    "additive_coupling": (lambda: Coupling(ChannelHalves(), GlowCouplingNet(
        "c/f1", 1, 4, 1, _rng(), CONTEXT), Shift()), IMAGE, "normal", 0),
    "affine_coupling": (lambda: Coupling(ChannelHalves(), GlowCouplingNet(
        "c/f1", 1, 4, 2, _rng(), CONTEXT, interleaved_pairs=True), SigmoidScale(0.1)), IMAGE,
        "normal", 0),
    "checkerboard_mask": (lambda: _masked(functools.partial(masks.checkerboard, parity=1)),
                          IMAGE, "normal", 0),
    "channelwise_mask": (lambda: _masked(functools.partial(masks.channelwise, parity=0)),
                         IMAGE, "normal", 0),
    "horizontal_mask": (lambda: _masked(functools.partial(masks.horizontal, parity=1)),
                        IMAGE, "normal", 0),
    "cycle_mask": (lambda: _masked(lambda shape: masks.quadrant(shape, 2, 3)), IMAGE,
                   "normal", 0),
    "bottleneck": (lambda: _masked(functools.partial(masks.checkerboard, parity=0),
                                   bottleneck=3), IMAGE, "normal", 0),
    "split_prior": (lambda: Coupling(ChannelHalves(), SplitPrior("p", 1, 2, CONTEXT),
                                     Standardize()), IMAGE, "normal", 0),
    "top_latent": (lambda: TopLatent(IMAGE, _rng(), CONTEXT, three_axis_1x1=True,
                                     learntop=True, ycond=True, n_y=3), IMAGE, "normal", 3),
    "squeeze": (Squeeze, IMAGE, "normal", 0),
    "logit": (lambda: LogitPreprocess(0.05), IMAGE, "pixels", 0),
    "tabular_coupling": (lambda: Coupling(VectorHalves(5, 1), MLP("t/st", 3, 1, 8, 4, _rng()),
                                          TanhScale("t", [2]), event_ndims=1), (5,),
                         "normal", 0),
    "glow_step": (lambda: flow_step(_glow_config(), "model/0/0", 2, _rng(), CONTEXT), IMAGE,
                  "normal", 0),
    "glow_flow": (lambda: build_glow_flow(_glow_config(ycond=True, n_y=3), CONTEXT), IMAGE,
                  "pixels", 3),
    "glow_flow_lu_no_split": (lambda: build_glow_flow(_glow_config(
        multiscale=False, three_axis_1x1=True, lu_decomposed=True), CONTEXT), IMAGE, "pixels",
        0),
    "realnvp_flow": (lambda: build_realnvp_flow(RealNVPConfig(
        image_shape=IMAGE, n_scales=2, st_blocks=1, st_width=4), CONTEXT), IMAGE, "pixels", 0),
    "chain": (lambda: FlowChain([Squeeze(), ActNorm("c", 8, CONTEXT),
                                 Invertible1x1Conv("c", 8, _rng())]), IMAGE, "normal", 0),
}


@functools.lru_cache(maxsize=None)
def _bijector(name):
    factory, event, _, _ = BIJECTORS[name]
    return randomize(factory(), scale=0.05)


def _inputs(name, batch_shape, dtype, seed=1):
    _, event, kind, n_classes = BIJECTORS[name]
    rng = np.random.default_rng(seed)
    shape = (*batch_shape, *event)
    x = rng.uniform(-0.45, 0.45, shape) if kind == "pixels" else rng.normal(size=shape)
    labels = tf.constant(rng.integers(0, n_classes, batch_shape)) if n_classes else None
    return tf.constant(x, dtype), labels


def _fresh(tensor):
    """A new tensor of the same values (not in TFP's bijector cache)."""
    return tf.constant(tensor.numpy())


def _kwargs(labels):
    return {} if labels is None else {"labels": labels}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=["scalar", "3", "2x3"])
@pytest.mark.parametrize("name", sorted(BIJECTORS))
def test_bijective_finite_and_batch_shaped(name, batch_shape, dtype):
    bijector, tolerance = _bijector(name), TOLERANCE[dtype]
    event_ndims = len(BIJECTORS[name][1])
    x, labels = _inputs(name, batch_shape, dtype)
    kwargs = _kwargs(labels)
    y = bijector.forward(x, **kwargs)
    out_event = tuple(bijector.forward_event_shape(BIJECTORS[name][1]))
    assert tuple(y.shape) == (*batch_shape, *out_event) and y.dtype == dtype
    fldj = bijector.forward_log_det_jacobian(x, event_ndims=event_ndims, **kwargs)
    assert tuple(fldj.shape) == batch_shape and fldj.dtype == dtype
    # Fresh tensors: TFP caches a bijector's results by tensor, so inverse(forward(x)) of
    # the same tensors would hand x back without computing anything.
    x_back = bijector.inverse(_fresh(y), **kwargs)
    ildj = bijector.inverse_log_det_jacobian(_fresh(y), event_ndims=len(out_event), **kwargs)
    for value in (y, fldj, ildj, x_back):
        assert np.all(np.isfinite(value.numpy()))
    np.testing.assert_allclose(x_back, x, atol=tolerance["round_trip"])
    scale = max(1.0, float(np.max(np.abs(fldj))))
    np.testing.assert_allclose(-ildj, fldj, atol=tolerance["log_det"] * scale)
    # forward(inverse(y')) == y' at a point of the codomain that is not forward(x).
    y_other = bijector.forward(_inputs(name, batch_shape, dtype, seed=2)[0], **kwargs)
    x_other = bijector.inverse(_fresh(y_other), **kwargs)
    np.testing.assert_allclose(bijector.forward(_fresh(x_other), **kwargs), y_other,
                               atol=tolerance["round_trip"])
    # Every example's values are those of the same example in one flat batch.
    flat_x = tf.reshape(x, (-1, *BIJECTORS[name][1]))
    flat_kwargs = _kwargs(None if labels is None else tf.reshape(labels, [-1]))
    flat_y, flat_log_det = bijector.forward_and_log_det(flat_x, **flat_kwargs)
    np.testing.assert_allclose(tf.reshape(y, flat_y.shape), flat_y, rtol=tolerance["batch"],
                               atol=tolerance["batch"])
    np.testing.assert_allclose(tf.reshape(fldj, [-1]), flat_log_det,
                               rtol=tolerance["batch"], atol=tolerance["batch"] * scale)


def _assert_bijective_and_finite(bijector, x, y, event_ndims, tolerance, kwargs):
    """TFP's bijector_test_util.assert_bijective_and_finite, step by step: x in the domain,
    y in the codomain; inverse(forward(x)) == x, forward(inverse(y)) == y, the
    log-determinants of both directions agree, and everything is finite. Fresh tensors
    keep TFP's cache from answering; round trips to TFP's own Glow test's absolute 1e-4
    in float32 (TOLERANCE), log-determinants relative to their size."""
    inverse_ndims = len(bijector.forward_event_shape(x.shape[len(x.shape) - event_ndims:]))
    f_x, g_y = bijector.forward(x, **kwargs), bijector.inverse(y, **kwargs)
    x_from_x = bijector.inverse(_fresh(f_x), **kwargs)
    y_from_y = bijector.forward(_fresh(g_y), **kwargs)
    ildj_f_x = bijector.inverse_log_det_jacobian(_fresh(f_x), event_ndims=inverse_ndims,
                                                 **kwargs)
    fldj_x = bijector.forward_log_det_jacobian(x, event_ndims=event_ndims, **kwargs)
    ildj_y = bijector.inverse_log_det_jacobian(y, event_ndims=inverse_ndims, **kwargs)
    fldj_g_y = bijector.forward_log_det_jacobian(_fresh(g_y), event_ndims=event_ndims,
                                                 **kwargs)
    for value in (f_x, g_y, x_from_x, y_from_y, ildj_f_x, fldj_x, ildj_y, fldj_g_y):
        assert np.all(np.isfinite(value.numpy()))
    np.testing.assert_allclose(x_from_x, x, atol=tolerance["round_trip"], rtol=0)
    np.testing.assert_allclose(y_from_y, y, atol=tolerance["round_trip"], rtol=0)
    for inverse, forward in ((ildj_f_x, fldj_x), (ildj_y, fldj_g_y)):
        scale = max(1.0, float(np.max(np.abs(forward))))
        np.testing.assert_allclose(-inverse, forward, atol=tolerance["log_det"] * scale)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BIJECTORS))
def test_tfp_helper_on_normal_draws_through_tfp_chain(name, dtype):
    """TFP's helper with y ~ N(0, 1) draws in the codomain (50 of them), through tfb.Chain
    where the bijector takes no labels (TFP composes it)."""
    bijector = _bijector(name)
    x, labels = _inputs(name, (50,), dtype, seed=4)
    out_event = tuple(bijector.forward_event_shape(BIJECTORS[name][1]))
    y = tf.constant(np.random.default_rng(5).normal(size=(50, *out_event)), dtype)
    subject = bijector if labels is not None else tfb.Chain([bijector])
    _assert_bijective_and_finite(subject, x, y, len(BIJECTORS[name][1]), TOLERANCE[dtype],
                                 _kwargs(labels))


def _cpu_config_flow(name):
    """The flow of a shipped CPU config's architecture after OpenAI's data-dependent init on
    random pixels (an untrained model as training starts it)."""
    kamoi = dict(n_levels=2, depth=4, width=32, flow_coupling=1, scale_offset=0.1,
                 multiscale=False, three_axis_1x1=True)
    configs = {"glow_kamoi": GlowConfig(**kamoi),
               "glow_kamoi_lu": GlowConfig(**kamoi, lu_decomposed=True),
               "glow_openai": GlowConfig(n_levels=2, depth=4, width=32, flow_coupling=1,
                                         learntop=True),
               "realnvp_baseline": RealNVPConfig(n_scales=2, st_blocks=2, st_width=16)}
    model = build(configs[name], example_shape=(28, 28, 1))
    model.initialize(np.random.default_rng(6).integers(0, 256, (64, 28, 28, 1), np.uint8))
    return model.flow


@pytest.mark.parametrize("name", ["glow_kamoi", "glow_kamoi_lu", "glow_openai",
                                  "realnvp_baseline"])
def test_tfp_helper_on_the_cpu_configs_flows(name):
    """The same check on the flows the CPU configs train, in float32: x_in in the pixel
    domain [-0.5, 0.5), y ~ N(0, 1) (what sampling feeds the inverse)."""
    flow = tfb.Chain([_cpu_config_flow(name)])
    rng = np.random.default_rng(7)
    x = tf.constant(rng.uniform(-0.5, 0.5, (50, 28, 28, 1)), tf.float32)
    y = tf.constant(rng.normal(size=(50, 784)), tf.float32)
    _assert_bijective_and_finite(flow, x, y, 3, TOLERANCE[tf.float32], {})


@pytest.mark.parametrize("name", sorted(BIJECTORS))
def test_extra_event_axes_are_summed_as_in_tfp(name):
    bijector = _bijector(name)
    event_ndims = len(BIJECTORS[name][1])
    x, labels = _inputs(name, (2, 3), tf.float64)
    per_example = bijector.forward_log_det_jacobian(x, event_ndims=event_ndims,
                                                    **_kwargs(labels))
    summed = bijector.forward_log_det_jacobian(x, event_ndims=event_ndims + 1,
                                               **_kwargs(labels))
    assert summed.shape == (2,)
    np.testing.assert_allclose(summed, tf.reduce_sum(per_example, axis=-1), rtol=1e-12)


def _autodiff_log_det(bijector, x, kwargs):
    """log|det J| of forward at x [N, *event] from the autodiff Jacobian (float64 slogdet)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reshape(bijector.forward(x, **kwargs), [x.shape[0], -1])
    jacobian = tf.reshape(tape.batch_jacobian(y, x), [x.shape[0], y.shape[1], -1])
    return tf.linalg.slogdet(tf.cast(jacobian, tf.float64))[1].numpy()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BIJECTORS))
def test_log_det_matches_the_autodiff_jacobian(name, dtype):
    bijector = _bijector(name)
    x, labels = _inputs(name, (3,), dtype, seed=3)
    kwargs = _kwargs(labels)
    log_det = bijector.forward_log_det_jacobian(x, event_ndims=len(BIJECTORS[name][1]),
                                                **kwargs)
    np.testing.assert_allclose(log_det, _autodiff_log_det(bijector, x, kwargs),
                               atol=TOLERANCE[dtype]["jacobian"])


@pytest.mark.parametrize("name", ["glow_flow", "realnvp_flow", "affine_coupling", "logit"])
def test_composes_inside_tfp_chain_and_invert(name):
    bijector = _bijector(name)
    x, labels = _inputs(name, (2, 3), tf.float64)
    event_ndims = len(BIJECTORS[name][1])
    kwargs = _kwargs(labels)
    inverted = tfb.Invert(bijector)
    np.testing.assert_allclose(inverted.inverse(x, **kwargs), bijector.forward(x, **kwargs))
    chain = tfb.Chain([tfb.Scale(tf.constant(2.0, tf.float64)), bijector])
    y = chain.forward(x, **({bijector.name: kwargs} if kwargs else {}))
    np.testing.assert_allclose(y, 2.0 * bijector.forward(x, **kwargs), rtol=1e-12)
    if not kwargs:
        fldj = chain.forward_log_det_jacobian(x, event_ndims=event_ndims)
        expected = (bijector.forward_log_det_jacobian(x, event_ndims=event_ndims)
                    + np.prod(bijector.forward_event_shape(x.shape[2:])) * math.log(2.0))
        np.testing.assert_allclose(fldj, expected, rtol=1e-12)


def test_unconditional_bijectors_refuse_labels_and_conditional_ones_need_them():
    x, _ = _inputs("actnorm", (3,), tf.float32)
    with pytest.raises(InputError, match="not class-conditional"):
        _bijector("actnorm").forward(x, labels=tf.zeros([3], tf.int32))
    z, _ = _inputs("top_latent", (3,), tf.float32)
    with pytest.raises(InputError, match="pass labels"):
        _bijector("top_latent").forward(z)


# ----------------------------------------------------------------------------- models
def run_spec(model, architecture, data=None, prior=PriorConfig()):
    """The RunSpec of `model` with default data (tabular or image), training and prior."""
    return RunSpec(model=model, architecture=architecture, prior=prior,
                   data=data or (TabularDataConfig() if model == "tabular" else DataConfig()),
                   training=TrainConfig())


MODELS = {
    "glow": run_spec("glow", _glow_config(image_shape=(8, 8, 1), n_levels=2)),
    "glow_ycond_mixture": run_spec("glow", _glow_config(image_shape=(8, 8, 1), ycond=True,
                                                     n_y=3, multiscale=False),
                                prior=PriorConfig(kind="gaussian_mixture", distance=6.0)),
    "realnvp": run_spec("realnvp", RealNVPConfig(image_shape=(8, 8, 1), n_scales=2, st_blocks=1,
                                              st_width=4)),
    "tabular": run_spec("tabular", TabularFlowConfig(num_dims=3, n_couplings=4, hidden_units=8)),
    "vae": run_spec("vae", VAEConfig(latent_dim=4, importance_samples=6, importance_chunk=7)
                 .for_data((28, 28, 1))),
}


@functools.lru_cache(maxsize=None)
def _model(name, dtype="float32"):
    """A built, initialised model with non-trivial weights; float64 models are copies of
    the float32 one (the way glow_prior.load makes them)."""
    if dtype == "float64":
        model = build_model(MODELS[name], float_dtype="float64")
        assign_by_name(model, values_by_name(_model(name)), "the float32 model")
        return model
    model = build_model(MODELS[name])
    if model.needs_initialization():
        rng = np.random.default_rng(5)
        labels = rng.integers(0, 3, 32) if model.conditional else None
        model.initialize(Batch(_examples(model, (32,), rng), labels=labels))
    randomize(model, scale=0.02)
    return model


def _examples(model, batch_shape, rng):
    shape = (*batch_shape, *model.example_shape)
    if model.dtype == tf.uint8:
        return rng.integers(0, 256, shape).astype(np.uint8)
    return rng.normal(size=shape).astype(model.dtype.as_numpy_dtype)


def _labels(model, batch_shape, rng):
    return {"labels": rng.integers(0, 3, batch_shape)} if model.conditional else {}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=["scalar", "3", "2x3"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_log_prob_has_the_batch_shape_and_per_example_values(name, batch_shape, dtype):
    model = _model(name, dtype)
    assert model.batch_shape == () and model.event_shape == model.example_shape
    assert model.dtype == (tf.uint8 if name != "tabular" else tf.as_dtype(dtype))
    rng = np.random.default_rng(7)
    x = _examples(model, batch_shape, rng)
    kwargs = _labels(model, batch_shape, rng)
    log_prob = model.log_prob(x, **kwargs)
    assert tuple(log_prob.shape) == batch_shape and log_prob.dtype == tf.as_dtype(dtype)
    flat = np.reshape(x, (-1, *model.example_shape))
    flat_kwargs = {k: np.reshape(v, [-1]) for k, v in kwargs.items()}
    one_by_one = [model.log_prob(flat[i], **{k: v[i] for k, v in flat_kwargs.items()})
                  for i in range(len(flat))]
    rtol = TOLERANCE[tf.as_dtype(dtype)]["batch"] if name != "vae" else 1e-4
    np.testing.assert_allclose(np.reshape(log_prob, [-1]), one_by_one, rtol=rtol)
    stats = model.statistics(x, **kwargs)
    assert all(tuple(v.shape[:len(batch_shape)]) == batch_shape for v in stats.values())
    np.testing.assert_allclose(stats["log_likelihood"], log_prob, rtol=rtol)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_precision_float64_agrees_with_float32(name):
    rng = np.random.default_rng(8)
    x = _examples(_model(name), (4,), rng)
    kwargs = _labels(_model(name), (4,), rng)
    ll32 = _model(name).log_prob(x, **kwargs)
    x64 = x if x.dtype == np.uint8 else x.astype(np.float64)
    ll64 = _model(name, "float64").log_prob(x64, **kwargs)
    assert ll64.dtype == tf.float64
    np.testing.assert_allclose(ll64, ll32, rtol=2e-4)


@pytest.mark.parametrize("sample_shape", BATCH_SHAPES, ids=["scalar", "3", "2x3"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_samples_have_the_sample_shape_and_follow_the_seed(name, sample_shape):
    model = _model(name)
    kwargs = _labels(model, sample_shape, np.random.default_rng(9))
    samples = model.sample(sample_shape, seed=1, **kwargs)
    assert tuple(samples.shape) == (*sample_shape, *model.example_shape)
    assert samples.dtype == model.dtype
    np.testing.assert_array_equal(model.sample(sample_shape, seed=1, **kwargs), samples)
    np.testing.assert_array_equal(model.sample(sample_shape, seed=(1, 0), **kwargs), samples)
    assert np.all(np.isfinite(model.log_prob(samples, **kwargs)))
    if math.prod(sample_shape) > 1:
        assert not np.array_equal(model.sample(sample_shape, seed=2, **kwargs), samples)


@pytest.mark.parametrize("name", ["glow", "vae"])
def test_image_models_refuse_what_is_not_their_images(name):
    model = _model(name)
    x = _examples(model, (2,), np.random.default_rng(0))
    with pytest.raises(InputError, match="integer pixel values 0..255"):
        model.log_prob(x.astype(np.float32) / 255.0)
    with pytest.raises(InputError, match="in 0..255"):
        model.log_prob(x.astype(np.int32) + 100)
    np.testing.assert_allclose(model.log_prob(x.astype(np.int64)), model.log_prob(x))
    with pytest.raises(InputError, match="shape"):
        model.log_prob(x[:, :4])
    with pytest.raises(InputError, match="not class-conditional"):
        model.log_prob(x, labels=[0, 1])
    with pytest.raises(InputError, match="seed"):
        model.sample(2, seed=1.5)


def test_class_conditional_models_need_labels_and_use_them():
    model = _model("glow_ycond_mixture")
    x = _examples(model, (3,), np.random.default_rng(0))
    with pytest.raises(InputError, match="class-conditional"):
        model.log_prob(x)
    assert not np.allclose(model.log_prob(x, labels=[0, 0, 0]),
                           model.log_prob(x, labels=[1, 1, 1]))
    # The TFP route: labels through bijector_kwargs of the flow's TransformedDistribution.
    x_in = model.flow_input(x)
    direct = model.flow_distribution.log_prob(x_in, bijector_kwargs={"labels": [2, 1, 0]})
    np.testing.assert_allclose(direct - model.discretization_nats,
                               model.log_prob(x, labels=[2, 1, 0]), rtol=1e-6)


def test_vector_models_convert_floats_as_tfp_does_and_refuse_integers():
    """A float32 model given float64 vectors converts them, as TFP distributions convert
    their inputs: the same numbers as float32 vectors of the same values."""
    model = _model("tabular")
    values = np.random.default_rng(0).normal(size=(2, 3))
    np.testing.assert_array_equal(model.log_prob(values).numpy(),
                                  model.log_prob(values.astype(np.float32)).numpy())
    assert model.log_prob(values).dtype == tf.float32
    with pytest.raises(InputError, match="float vectors, got int64"):
        model.log_prob(np.zeros((2, 3), np.int64))


def _box_probability_two_ways(distribution, low, high, n=20000, seed=0):
    """P(low <= x < high) from samples of `distribution`, and from its density by Monte
    Carlo integration over the box: the sample/log-prob consistency check."""
    samples = distribution.sample(n, seed=(seed, 1)).numpy()
    inside = np.all((samples >= low) & (samples < high), axis=-1).mean()
    points = np.random.default_rng(seed).uniform(low, high, (n, len(low)))
    density = np.exp(distribution.log_prob(tf.constant(points, distribution.dtype)).numpy())
    return inside, np.prod(np.asarray(high) - low) * density.mean(), np.sqrt(inside / n)


def test_sample_and_log_prob_are_consistent_for_vectors_and_images():
    tabular = _model("tabular")
    for low, high in (([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]), ([0.0, -2.0, 0.0], [2.0, 0.0, 2.0])):
        from_samples, from_density, error = _box_probability_two_ways(tabular, low, high)
        assert abs(from_samples - from_density) < 4 * error + 0.01
    # An image flow's continuous density over the flow input x_in (4 dimensions).
    spec = run_spec("glow", _glow_config(image_shape=(2, 2, 1), n_levels=1, width=4))
    glow = randomize(build_model(spec), scale=0.2)
    flow_distribution = glow.flow_distribution
    samples = flow_distribution.sample(4000, seed=(3, 4)).numpy().reshape(4000, -1)
    low, high = np.percentile(samples, 25, axis=0), np.percentile(samples, 75, axis=0)

    class Flat:  # the distribution over flattened images, for the box check
        dtype = tf.float32

        @staticmethod
        def sample(n, seed):
            return tf.reshape(flow_distribution.sample(n, seed=seed), [n, -1])

        @staticmethod
        def log_prob(points):
            return flow_distribution.log_prob(tf.reshape(points, [-1, 2, 2, 1]))

    from_samples, from_density, error = _box_probability_two_ways(Flat, low, high)
    assert from_samples > 0.02
    assert abs(from_samples - from_density) < 4 * error + 0.01


def test_two_dimensional_density_integrates_to_one():
    spec = run_spec("tabular", TabularFlowConfig(num_dims=2, n_couplings=4, hidden_units=8))
    model = randomize(build_model(spec), scale=0.2)
    grid = np.linspace(-9, 9, 361)
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    density = np.exp(model.log_prob(points).numpy())
    assert np.sum(density) * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=2e-3)


def test_log_prob_compiles_with_xla():
    model = _model("glow")
    x = _examples(model, (2, 3), np.random.default_rng(1))
    compiled = tf.function(model.log_prob, jit_compile=True)
    np.testing.assert_allclose(compiled(x), model.log_prob(x), rtol=1e-5)
