"""The likelihood-based OOD scores against independent computations on tiny inputs, and
one evaluation with every score."""
import dataclasses
import io
import json
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn import metrics as sk_metrics
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from glow_prior.reports.ood_report import write_report
from glow_prior import ood
from glow_prior.models.batch import Batch
from glow_prior.config import (
    DataConfig,
    GlowConfig,
    PriorConfig,
    RealNVPConfig,
    RunSpec,
    TrainConfig,
    VAEConfig,
)
from glow_prior.data import preprocess
from glow_prior.data.sources import ImageSet
from glow_prior.errors import InputError
from glow_prior.models.base import LEVELS
from glow_prior.models.registry import build_model
from glow_prior.ood import likelihood as scores
from glow_prior.ood.regret import RegretOptimizer
from tests.conftest import randomize


def _spec(model, architecture, prior=PriorConfig()):
    return RunSpec(model=model, architecture=architecture, prior=prior, data=DataConfig(),
                   training=TrainConfig())


def test_typicality_and_its_batch_test_by_hand():
    log_likelihood = np.array([-10.0, -12.0, -8.0, -20.0])
    entropy = 11.0  # mean NLL of a reference set
    np.testing.assert_allclose(scores.typicality(log_likelihood, entropy), [-1, -1, -3, -9])
    batches = scores.typicality_batches(log_likelihood, entropy, 2, seed=3)
    order = np.random.default_rng(3).permutation(4)
    pairs = (-log_likelihood[order]).reshape(2, 2).mean(axis=1)
    np.testing.assert_allclose(batches, -np.abs(pairs - entropy))
    # Without replacement: every example is in exactly one batch (remainder dropped).
    assert len(scores.typicality_batches(np.arange(7.0), 0.0, 3, seed=0)) == 2
    with pytest.raises(InputError, match="fewer than 10"):
        scores.typicality_batches(log_likelihood, entropy, 10, seed=0)


def test_waic_on_known_arrays():
    members = np.array([[1.0, -2.0], [3.0, -2.0], [2.0, -5.0]])  # K = 3 members, N = 2
    # column 0: mean 2, variance ((1-2)^2 + (3-2)^2 + 0) / 3 = 2/3; column 1: mean -3, var 2
    np.testing.assert_allclose(scores.waic(members), [2 - 2 / 3, -3 - 2])


def test_component_confidence_by_hand():
    per_component = np.log(np.array([[0.2, 0.6], [0.5, 0.5]]))
    np.testing.assert_allclose(scores.component_confidence(per_component), [0.75, 0.5])


@pytest.mark.parametrize("compressor,options", [
    ("png", dict(format="PNG", optimize=True, compress_level=9)),
    ("jpeg2000", dict(format="JPEG2000", irreversible=False))])
def test_compressed_lengths_are_pillows(compressor, options):
    rng = np.random.default_rng(0)
    images = np.concatenate([np.zeros((1, 16, 16, 3), np.uint8),
                             rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)])
    bits = scores.compressed_bits(images, compressor)
    for image, length in zip(images, bits):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, **options)
        assert length == 8 * len(buffer.getvalue())
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
        np.testing.assert_array_equal(decoded, image)  # lossless
    assert bits[0] < bits[1]  # a flat image is simpler than noise
    gray = scores.compressed_bits(images[:, :, :, :1], compressor)
    assert gray.shape == (2,)
    np.testing.assert_allclose(scores.input_complexity([-math.log(2) * 100.0], [30.0]), [-70.0])


def test_dose_matches_scikit_learn_called_directly():
    rng = np.random.default_rng(1)
    train = {"log_likelihood": rng.normal(-100, 5, 200), "log_det": rng.normal(20, 2, 200)}
    other = {"log_likelihood": rng.normal(-120, 5, 30), "log_det": rng.normal(20, 2, 30)}
    dose = scores.DoSE(train)
    features = np.stack([train["log_likelihood"], train["log_det"]], axis=1)
    scaler = StandardScaler().fit(features)
    search = GridSearchCV(KernelDensity(), {"bandwidth": np.logspace(-1.5, 1.0, 12)}, cv=5)
    search.fit(scaler.transform(features))
    test_features = scaler.transform(np.stack([other["log_likelihood"], other["log_det"]], 1))
    np.testing.assert_allclose(dose.kde_score(other),
                               search.best_estimator_.score_samples(test_features))
    svm = OneClassSVM(nu=0.1, gamma="scale").fit(scaler.transform(features))
    np.testing.assert_allclose(dose.svm_score(other), svm.decision_function(test_features))
    assert dose.kde_score(other).mean() < dose.kde_score(train).mean()


@pytest.mark.parametrize("spec", [
    _spec("glow", GlowConfig(image_shape=(8, 8, 1), n_levels=3, depth=1, width=8,
                             flow_coupling=1, learntop=True)),
    _spec("realnvp", RealNVPConfig(image_shape=(8, 8, 1), n_scales=2, st_blocks=1,
                                   st_width=4))], ids=["glow", "realnvp"])
def test_per_level_contributions_sum_to_the_log_likelihood(spec):
    model = build_model(spec)
    randomize(model.flow, scale=0.05)
    assert model.supports(LEVELS)
    x = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    stats = model.statistics(x, seed=(0, 0))
    levels = sorted(k for k in stats if k.startswith("level_"))
    assert levels == [f"level_{k}" for k in range(len(model.flow.latent_shapes))]
    total = tf.add_n([stats[k] for k in levels])
    np.testing.assert_allclose(total, stats["log_likelihood"], rtol=1e-5)
    np.testing.assert_allclose(stats["log_likelihood"],
                               model.log_prob(x, seed=(0, 0)), rtol=1e-6)
    np.testing.assert_allclose(stats["log_prior"] + stats["log_det"] - model.discretization_nats,
                               stats["log_likelihood"], rtol=1e-6)


def test_no_level_scores_without_a_split_or_with_a_mixture_prior():
    kamoi = build_model(_spec("glow", GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1,
                                                 width=8, multiscale=False)))
    assert not kamoi.supports(LEVELS)
    assert not any(k.startswith("level_") for k in kamoi.statistics(
        np.zeros((2, 8, 8, 1), np.uint8), seed=(0, 0)))


def test_mixture_prior_flows_have_no_level_scores_but_component_ones():
    model = build_model(_spec("glow", GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1,
                                                 width=8), PriorConfig(kind="gaussian_mixture")))
    assert not model.supports(LEVELS)
    names = ood.available(model)
    assert "max_component" in names and not any(n.startswith("level_") for n in names)
    with pytest.raises(InputError, match="'waic' needs an ensemble of 3 or more runs"):
        ood.requested(model, ["waic"])


def _vae():
    model = build_model(_spec("vae", VAEConfig(latent_dim=8, importance_samples=4)
                              .for_data((28, 28, 1))))
    randomize(model.encoder, scale=0.02)
    return model


def test_likelihood_regret_starts_at_the_trained_encoder_and_never_lowers_the_elbo():
    model = _vae()
    x = np.random.default_rng(3).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    regret = RegretOptimizer(model, steps=20, lr=1e-3, eval_every=5)
    # The copy runs the VAE's own posterior code with the trained weights.
    np.testing.assert_allclose(model.posterior_parameters(x, encoder=regret.encoder)[0],
                               model.posterior_parameters(x)[0], atol=1e-6)
    eps = tf.random.stateless_normal([4, 1, 8], (0, 0))
    posterior = model.posterior(x[:1])
    z = posterior.distribution.loc + posterior.distribution.scale * eps[:, 0]
    by_hand = np.mean(model.decoder_log_likelihood(np.repeat(x[:1], 4, 0), z)
                      + model.prior.log_prob(z) - posterior.log_prob(z))
    np.testing.assert_allclose(regret.elbo(tf.constant(x[:1]), eps), by_hand, rtol=1e-5)
    values = regret(x)
    assert np.all(values >= 0) and values.max() > 0  # re-optimising does improve an ELBO
    np.testing.assert_allclose(regret(x[::-1]), values[::-1], rtol=1e-5)  # per image


def _images(n, seed, low=0, high=256):
    x = np.random.default_rng(seed).integers(low, high, (n, 8, 8, 1), dtype=np.uint8)
    return ImageSet(x, np.zeros(n, np.int64), "toy", "test")


@pytest.mark.slow
def test_every_score_in_one_evaluation_and_aurocs_recompute_from_the_saved_scores(tmp_path):
    spec = _spec("glow", GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1, width=8,
                                    flow_coupling=1))
    model, background = build_model(spec), build_model(spec)
    ensemble = [build_model(dataclasses.replace(
        spec, architecture=spec.architecture.replace(seed=seed))) for seed in (1, 2, 3)]
    for m in (model, background, *ensemble):
        m.initialize(Batch(_images(64, 9).x))
    options = ood.ScoreOptions(which=("all",), background=background,
                               ensemble=tuple(ensemble))
    result = ood.evaluate_run(model, _images(60, 0, 0, 128), _images(40, 1, 0, 128),
                              {"bright": _images(40, 2, 128, 256)}, batch_size=16,
                              options=options)
    report = write_report(result, str(tmp_path), "toy")
    expected = {"log_likelihood", "typicality", "likelihood_ratio", "input_complexity_png",
                "input_complexity_jpeg2000", "waic", "dose_kde", "dose_ocsvm", "level_0",
                "level_1", "level_llr_0", "latent_norm_test", "latent_ks", "score_statistic",
                "score_typicality_fisher", "gradient_norms",
                *(f"typicality_batch_{m}" for m in (1, 2, 5, 10))}
    assert set(report["scores"]) == expected
    assert set(report["costs"]["seconds"]) == {s.name for s in result.scorers}
    saved = np.load(tmp_path / "ood_scores.npz")
    for name, entries in report["scores"].items():
        test, bright = saved[f"{name}/test"], saved[f"{name}/bright"]
        labels = np.r_[np.ones(len(test)), np.zeros(len(bright))]
        assert entries["bright"]["auroc"] == pytest.approx(
            sk_metrics.roc_auc_score(labels, np.r_[test, bright])), name
    assert set(report["typicality"]["batches"]) == {"1", "2", "5", "10"}
    stored = json.loads((tmp_path / "ood_report.json").read_text())
    assert "higher = more in-distribution" in stored["score_convention"]
    assert "OOD as positive" in stored["positive_class"]
    assert (tmp_path / "roc_curves.png").exists() and (tmp_path / "extreme_images.png").exists()
    markdown = (tmp_path / "ood_report.md").read_text()
    assert "| waic |" in markdown and "FPR@95 (OOD positive)" in markdown
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".staging")]


def test_default_leaves_out_the_expensive_scores_and_all_includes_them():
    model = build_model(_spec("glow", GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=1,
                                                 width=8)))
    default = {s.name for s in ood.requested(model, ["default"])}
    everything = {s.name for s in ood.requested(model, ["all"])}
    assert "score_statistic" in everything - default and "log_likelihood" in default
    assert {s.name for s in ood.requested(model, ["level_1"])} == {"level_k"}
