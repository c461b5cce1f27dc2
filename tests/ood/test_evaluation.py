"""OOD metrics against hand-computed values; scoring and reports."""
import functools
import json

import numpy as np
import pytest

from glow_prior.reports.ood_report import write_report
from glow_prior import ood
from glow_prior.models import scoring
from glow_prior.ood.evaluate import latent_coordinate
from glow_prior.config import PriorConfig, TabularFlowConfig
from glow_prior.data.tabular import VectorSet
from glow_prior.models.tabular import build_tabular
from glow_prior.models.priors import build_prior


def _tabular_model(kind="standard"):
    prior = PriorConfig(kind=kind, distance=6.0)
    return build_tabular(TabularFlowConfig(num_dims=2, n_couplings=2, hidden_units=8),
                         functools.partial(build_prior, prior))


def test_latent_coordinate_follows_kamoi():
    rng = np.random.default_rng(0)
    z_ood = rng.normal(0, 0.1, (50, 4))
    z_ood[:, 2] += 3.0
    assert latent_coordinate(_tabular_model().prior, z_ood) == 2
    mixture = build_prior(PriorConfig(kind="gaussian_mixture", layout="onehot", n_components=2,
                          distance=5.0), 4)
    means_spread_most = mixture.means.numpy().max(0) - mixture.means.numpy().min(0)
    assert latent_coordinate(mixture, z_ood) == int(np.argmax(means_spread_most))


def test_score_is_batched_consistently():
    model = _tabular_model()
    x = np.random.default_rng(1).normal(size=(37, 2)).astype(np.float32)
    scores = scoring.score(model, x, batch_size=10)
    np.testing.assert_allclose(scores.log_likelihood, model.log_likelihood(x), rtol=1e-6)
    np.testing.assert_allclose(scores.bits_per_dim,
                               -scores.log_likelihood / (2 * np.log(2)), rtol=1e-6)


def test_evaluate_run_writes_the_report(tmp_path):
    model = _tabular_model("gaussian_mixture")
    rng = np.random.default_rng(2)
    train = VectorSet(rng.normal(0, 1, (60, 2)).astype(np.float32), np.zeros(60), "train")
    test = VectorSet(rng.normal(0, 1, (40, 2)).astype(np.float32), np.zeros(40), "test")
    near0 = VectorSet(rng.normal(0, 0.1, (30, 2)).astype(np.float32), np.zeros(30), "near0")
    report = write_report(ood.evaluate_run(model, train, test, {"near0": near0},
                                               batch_size=16), str(tmp_path))
    stored = json.loads((tmp_path / "ood_report.json").read_text())
    entry = stored["ood_datasets"]["near0"]
    for key in ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr", "in_mean_log_likelihood",
                "ood_mean_log_likelihood", "in_mean_bits_per_dim", "ood_mean_bits_per_dim"):
        assert key in entry
    assert "positive class" in stored["score"]
    assert entry["ood_mean_log_likelihood"] == pytest.approx(
        float(np.mean(model.log_likelihood(near0.x))), rel=1e-5)
    for figure in report["figures"].values():
        assert (tmp_path / figure).exists()
    assert "| near0 |" in (tmp_path / "ood_report.md").read_text()
