"""OOD metrics against hand-computed values."""
import numpy as np
import pytest

from glow_prior.ood import metrics


def test_metrics_on_a_hand_computed_case():
    # Ranked by score: 3 (in), 2 (ood), 1 (in), 0 (ood).
    result = metrics.ood_metrics([1.0, 3.0], [2.0, 0.0])
    assert result["auroc"] == pytest.approx(3 / 4)  # 3 of 4 (in, ood) pairs ordered
    assert result["aupr_in"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # OOD as positive with score -LL: ranked 0 (ood), 1 (in), 2 (ood), 3 (in).
    assert result["aupr_out"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # TPR 95% needs the threshold at 1.0, which lets the OOD score 2.0 through.
    assert result["fpr_at_95_tpr"] == pytest.approx(0.5)
    # OpenOOD's FPR@95, OOD positive: flagging 95% of the OOD inputs (both, 2.0 and 0.0)
    # needs the threshold at 2.0, which flags the in-distribution 1.0 as well.
    assert result["fpr_at_95_tpr_ood_positive"] == pytest.approx(0.5)
    perfect = metrics.ood_metrics([3.0, 4.0], [1.0, 2.0])
    assert perfect == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, "fpr_at_95_tpr": 0.0,
                       "fpr_at_95_tpr_ood_positive": 0.0}


def test_fpr_at_95_ood_positive_is_openood_s_formula():
    """OpenOOD's auc_and_fpr_recall: roc_curve(ood indicator, -conf), FPR at the first
    point with TPR >= 0.95; checked on a case where the two FPRs differ."""
    score_in = np.arange(20.0)          # in-distribution: 0 .. 19
    score_ood = np.arange(20.0) - 10.5  # OOD: -10.5 .. 8.5
    result = metrics.ood_metrics(score_in, score_ood)
    # OOD positive: flag the 19 lowest of 20 OOD (threshold 7.5 on the score): in-dist
    # 0..7 (8 of 20) are flagged too.
    assert result["fpr_at_95_tpr_ood_positive"] == pytest.approx(8 / 20)
    # In-distribution positive: accept 19 of 20 (threshold 1): OOD 1.5 .. 8.5 (8) pass.
    assert result["fpr_at_95_tpr"] == pytest.approx(8 / 20)
    # Ten in-distribution 0 .. 9, twenty OOD -15.5 .. 3.5: flagging 19 OOD (<= 2.5) flags
    # in-distribution 0, 1, 2 (3 of 10); accepting all 10 in-distribution (>= 0) accepts
    # OOD 0.5 .. 3.5 (4 of 20).
    unequal = metrics.ood_metrics(np.arange(10.0), np.arange(20.0) - 15.5)
    assert unequal["fpr_at_95_tpr_ood_positive"] == pytest.approx(3 / 10)
    assert unequal["fpr_at_95_tpr"] == pytest.approx(4 / 20)


def test_metrics_handle_infinite_scores_and_reject_nan():
    result = metrics.ood_metrics([-1.0, -2.0], [-np.inf, -5.0])
    assert result["auroc"] == 1.0
    with pytest.raises(ValueError, match="1 OOD scores are NaN"):
        metrics.ood_metrics([0.0], [np.nan])


@pytest.mark.parametrize("ties", [False, True])
def test_the_vectorised_metrics_are_scikit_learns(ties):
    """curve_metrics (what every bootstrap resample is scored with) gives ood_metrics'
    scikit-learn numbers on the examples, ties included, and each row of a batch its own."""
    rng = np.random.default_rng(3)
    score_in, score_ood = rng.normal(1.0, 1.0, (3, 400)), rng.normal(0.0, 1.5, (3, 300))
    if ties:
        score_in, score_ood = np.round(score_in, 1), np.round(score_ood, 1)
    batch = metrics.curve_metrics(score_in, score_ood)
    for row in range(3):
        expected = metrics.ood_metrics(score_in[row], score_ood[row])
        np.testing.assert_allclose(batch[:, row], [expected[k] for k in metrics.METRIC_KEYS],
                                   rtol=1e-12, atol=1e-15)


def _delong_standard_error(score_in, score_ood):
    """DeLong et al. (1988): the AUROC's standard error from its structural components
    (an independent closed form)."""
    pairs = (score_in[:, None] > score_ood[None, :]) + 0.5 * (score_in[:, None] == score_ood)
    v10, v01 = pairs.mean(axis=1), pairs.mean(axis=0)
    return np.sqrt(v10.var(ddof=1) / len(score_in) + v01.var(ddof=1) / len(score_ood))


def test_the_auroc_interval_is_delongs_and_covers_the_true_auroc():
    """Two Gaussian samples N(d, 1) vs N(0, 1), whose AUROC is Phi(d / sqrt 2): the 95%
    bootstrap interval's half-width is 1.96 DeLong standard errors (to 10%), and over 100
    independent samples it covers the true AUROC about 95 times (at least 88: the chance
    of fewer with a true 95% coverage is below 1%)."""
    from scipy import stats  # pylint: disable=import-outside-toplevel
    d = 1.0
    true_auroc = stats.norm.cdf(d / np.sqrt(2.0))
    rng = np.random.default_rng(0)
    score_in, score_ood = rng.normal(d, 1.0, 2000), rng.normal(0.0, 1.0, 1500)
    low, high = metrics.metric_intervals(score_in, score_ood)["auroc"]
    half_width = (high - low) / 2
    assert half_width == pytest.approx(1.96 * _delong_standard_error(score_in, score_ood),
                                       rel=0.1)
    covered = 0
    for seed in range(100):
        rng = np.random.default_rng(100 + seed)
        low, high = metrics.metric_intervals(rng.normal(d, 1.0, 150), rng.normal(0.0, 1.0, 150),
                                             n_resamples=400, seed=seed)["auroc"]
        covered += low <= true_auroc <= high
    assert covered >= 88, covered


def test_intervals_contain_the_estimate_and_need_two_examples():
    rng = np.random.default_rng(1)
    score_in, score_ood = rng.normal(0.5, 1, 300), rng.normal(0, 1, 300)
    estimate, intervals = metrics.ood_metrics(score_in, score_ood), \
        metrics.metric_intervals(score_in, score_ood, n_resamples=300)
    for key, (low, high) in intervals.items():
        assert low <= estimate[key] <= high, key
    assert metrics.metric_intervals([1.0], [0.0, 2.0]) == dict.fromkeys(metrics.METRIC_KEYS)
