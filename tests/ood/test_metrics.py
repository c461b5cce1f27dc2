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
