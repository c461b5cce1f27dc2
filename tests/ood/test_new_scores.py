"""The gradient, latent and level scores against independent computations.

Gradients: a small float64 tabular flow, whose per-example gradients are recomputed one
example at a time by autodiff (the scores use one vectorised Jacobian per batch) and
checked against central finite differences (the weights are float32 variables, so the step
is 2^-10, exact in float32 for weights below 2^13; truncation ~h^2 = 1e-6 relative: we allow
1e-4 relative + 1e-7); the scores' formulas are then recomputed from those gradients with
NumPy/SciPy. The model computes in float64, but gradients with respect to its float32
variables are float32, summed in another order: 1e-6 relative. Latents: a tabular flow whose coupling networks
are zero-initialised is the identity, so z = x exactly and the latent statistics have
closed forms (scipy's KS test, the chi-square moments). Levels: the ratio is recomputed
from the per-level terms by hand.
"""
import math

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from glow_prior import ood
from glow_prior.config import (
    DataConfig,
    GlowConfig,
    PriorConfig,
    RunSpec,
    TabularDataConfig,
    TabularFlowConfig,
    TrainConfig,
)
from glow_prior.data.tabular import VectorSet
from glow_prior.models.registry import build_model
from glow_prior.ood import gradients, latent, likelihood
from glow_prior.models.priors import generalized_normal_scale
from tests.conftest import randomize


def _tabular(prior=PriorConfig(), float_dtype="float32", num_dims=3):
    spec = RunSpec(model="tabular", architecture=TabularFlowConfig(
        num_dims=num_dims, n_couplings=2, hidden_units=4), prior=prior,
        data=TabularDataConfig(), training=TrainConfig())
    return build_model(spec, float_dtype=float_dtype)


def _vectors(n, seed, dtype=np.float32, scale=1.0):
    x = np.random.default_rng(seed).normal(0, scale, (n, 3)).astype(dtype)
    return VectorSet(x, np.zeros(n), f"set{seed}")


def _inputs(model, sets, seed=0):
    inputs = ood.ScoreInputs(model, {name: (s.x, None) for name, s in sets.items()},
                             [name for name in sets if name != "train"],
                             batch_size=7, seed=seed)
    return inputs


# --------------------------------------------------------------------------- gradients
def _finite_difference_gradients(model, x, step=2.0 ** -10):
    """[N, P] d log p(x_n) / d theta by central differences, parameters flattened in the
    order of model.trainable_variables."""
    columns = []
    for variable in model.trainable_variables:
        flat = variable.numpy().ravel()
        for index in range(flat.size):
            values = []
            for sign in (1, -1):
                shifted = flat.copy()
                shifted[index] += sign * step
                variable.assign(shifted.reshape(variable.shape))
                values.append(model.log_prob(x).numpy())
            variable.assign(flat.reshape(variable.shape))
            columns.append((values[0] - values[1]) / (2 * step))
    return np.stack(columns, axis=1)


def _one_at_a_time_gradients(model, x):
    """[N, P] the same gradients by autodiff, one example per tape (no vectorisation)."""
    rows = []
    for example in x:
        with tf.GradientTape() as tape:
            value = model.log_prob(example[None])[0]
        rows.append(np.concatenate([g.numpy().ravel() for g in
                                    tape.gradient(value, model.trainable_variables)]))
    return np.stack(rows)


def _layer_slices(model):
    sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
    edges = np.cumsum([0] + sizes)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def test_gradient_scores_match_finite_differences_and_the_papers_formulas():
    model = randomize(_tabular(float_dtype="float64"), scale=0.3)
    train, test, other = _vectors(20, 1, np.float64), _vectors(6, 2, np.float64), \
        _vectors(6, 3, np.float64, scale=3.0)
    inputs = _inputs(model, {"train": train, "test": test, "far": other})
    scorers = {s.name: s for s in ood.requested(
        model, ["score_statistic", "score_typicality_fisher", "gradient_norms"])}
    for scorer in scorers.values():
        scorer.fit(inputs)
    stats = gradients.GradientStatistics.of(inputs)

    g_train = _one_at_a_time_gradients(model, train.x)
    finite_differences = _finite_difference_gradients(model, train.x[:3])
    np.testing.assert_allclose(finite_differences, g_train[:3], rtol=1e-4, atol=1e-7)
    fit, calibration = stats.fit_half, stats.calibration_half
    fisher = (g_train[fit] ** 2).mean(axis=0)
    slices = _layer_slices(model)

    def log_norms(g):
        # Variables without gradient (a ReLU unit dead on every input) give log 0; the
        # scores floor squared norms at 1e-30 and drop features without variance.
        return np.stack([np.log(np.maximum((g[:, s] ** 2).sum(axis=1), 1e-30))
                         for s in slices], axis=1)

    def by_hand(x):
        g = _one_at_a_time_gradients(model, x)
        return np.sqrt((g ** 2 / (fisher + 1e-8)).sum(axis=1)), log_norms(g)

    fit_features = log_norms(g_train[fit])
    kept = fit_features.std(axis=0) > 1e-3
    mean, std = fit_features.mean(axis=0)[kept], fit_features.std(axis=0, ddof=1)[kept]
    calibration_statistic, _ = by_hand(train.x[calibration])
    ll_train = model.log_prob(train.x).numpy()
    mean_ll = ll_train[fit].mean()
    calibration_typical = np.abs(ll_train[calibration] - mean_ll)
    for name, vectors in (("test", test), ("far", other)):
        statistic, features = by_hand(vectors.x)
        np.testing.assert_allclose(scorers["score_statistic"].values(inputs, name)
                                   ["score_statistic"], -statistic, rtol=1e-6)
        expected = scipy.stats.norm.logpdf(features[:, kept], mean, std).sum(axis=1)
        np.testing.assert_allclose(scorers["gradient_norms"].values(inputs, name)
                                   ["gradient_norms"], expected, rtol=1e-6)
        typical = np.abs(model.log_prob(vectors.x).numpy() - mean_ll)
        p_score = [(1 + np.sum(calibration_statistic >= s)) / (1 + len(calibration))
                   for s in statistic]
        p_typical = [(1 + np.sum(calibration_typical >= t)) / (1 + len(calibration))
                     for t in typical]
        np.testing.assert_allclose(
            scorers["score_typicality_fisher"].values(inputs, name)["score_typicality_fisher"],
            np.log(p_score) + np.log(p_typical), rtol=1e-6)


def test_empirical_p_values_by_hand():
    calibration = np.array([1.0, 2.0, 2.0, 5.0])
    np.testing.assert_allclose(gradients.empirical_p_value(calibration, [0.0, 2.0, 6.0]),
                               [5 / 5, 4 / 5, 1 / 5])


# ------------------------------------------------------------------------------ latents
@pytest.mark.parametrize("prior", [
    PriorConfig(),
    PriorConfig(kind="generalized_gaussian_mixture", distance=20.0)], ids=["standard", "gg"])
def test_latent_scores_of_an_identity_flow_have_closed_forms(prior):
    model = _tabular(prior)  # zero-initialised couplings: z = x
    sets = {"train": _vectors(10, 1), "test": _vectors(8, 2, scale=2.0)}
    x = sets["test"].x.astype(np.float64)
    np.testing.assert_allclose(model.encode(sets["test"].x), x, atol=1e-6)
    inputs = _inputs(model, sets)
    means = model.prior.means.numpy().astype(np.float64)
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)  # equal scales
    r = x - means[nearest]
    if prior.kind == "standard":
        marginal, variance = scipy.stats.norm(), 2.0
    else:
        alpha = generalized_normal_scale(4.0)
        marginal = scipy.stats.gennorm(4.0, scale=alpha)
        variance = marginal.moment(4) - 1.0
        assert variance == pytest.approx(alpha ** 4 * math.gamma(5 / 4) / math.gamma(1 / 4) - 1)
    norm_test = ood.requested(model, ["latent_norm_test"])[0]
    expected = -np.abs(((r ** 2).sum(axis=1) - 3) / math.sqrt(3 * variance))
    np.testing.assert_allclose(norm_test.values(inputs, "test")["latent_norm_test"], expected,
                               rtol=1e-5)
    ks = ood.requested(model, ["latent_ks"])[0]
    expected = [-scipy.stats.kstest(row, marginal.cdf).statistic for row in r]
    np.testing.assert_allclose(ks.values(inputs, "test")["latent_ks"], expected, rtol=1e-5)


# ------------------------------------------------------------------------------- levels
def test_level_likelihood_ratio_by_hand():
    spec = RunSpec(model="glow", architecture=GlowConfig(image_shape=(8, 8, 1), n_levels=3,
                                                         depth=1, width=8, flow_coupling=1),
                   prior=PriorConfig(), data=DataConfig(), training=TrainConfig())
    model = randomize(build_model(spec), scale=0.05)
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    inputs = ood.ScoreInputs(model, {"train": (x, None), "test": (x, None)}, ["test"],
                             batch_size=5)
    values = ood.requested(model, ["level_llr"])[0].values(inputs, "test")
    stats = model.statistics(x, seed=(0, 0))
    sizes = [h * w * c for h, w, c in model.flow.latent_shapes]  # [32, 16, 16]
    levels = [stats[f"level_{k}"].numpy().astype(np.float64) for k in range(3)]
    assert sorted(values) == ["level_llr_0", "level_llr_1"]
    # float32 level terms of order 100, compiled vs eager: ~1e-5 apart, divided by >= 16.
    np.testing.assert_allclose(values["level_llr_0"], (levels[1] + levels[2]) /
                               (sizes[1] + sizes[2]) - levels[0] / sizes[0], atol=1e-5)
    np.testing.assert_allclose(values["level_llr_1"], levels[2] / sizes[2] -
                               (levels[0] + levels[1]) / (sizes[0] + sizes[1]), atol=1e-5)


# ------------------------------------------------------------------- adding a score
class MeanPixel(ood.Score):
    """A score defined outside the package: the mean pixel value."""

    name = "mean_pixel"

    def compute(self, inputs, set_name):
        return inputs.examples(set_name).reshape(len(inputs.examples(set_name)), -1).mean(1)


@pytest.fixture
def registered_mean_pixel():
    ood.register(MeanPixel)
    yield
    del ood.SCORES["mean_pixel"]


@pytest.mark.slow
def test_a_score_class_is_all_it_takes(registered_mean_pixel, tmp_path, trained_runs):
    """Defining and registering a Score makes it available to evaluate_ood --scores= and
    its report, with no other change."""
    from glow_prior.apps import evaluate_ood  # pylint: disable=import-outside-toplevel
    status = evaluate_ood.main(["evaluate_ood", f"--logdir={trained_runs['glow']}",
                                "--ood_datasets=noise",
                                "--scores=log_likelihood,mean_pixel", "--n_eval=40",
                                f"--output_dir={tmp_path}"])
    assert status == 0
    report = (tmp_path / "ood_report.md").read_text()
    assert "| mean_pixel |" in report
    scores = np.load(tmp_path / "ood_scores.npz")
    assert scores["mean_pixel/noise"].mean() > scores["mean_pixel/test"].mean()
    model = build_model(RunSpec(model="glow", architecture=GlowConfig(image_shape=(8, 8, 1),
                                                                      n_levels=1, depth=1,
                                                                      width=4),
                                prior=PriorConfig(), data=DataConfig(), training=TrainConfig()))
    assert "mean_pixel" in ood.available(model)
