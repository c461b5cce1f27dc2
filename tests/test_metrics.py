"""OOD metrics against hand-computed values."""
import numpy as np
import pytest

from glow_prior import metrics


def test_metrics_on_a_hand_computed_case():
    # Ranked by score: 3 (in), 2 (ood), 1 (in), 0 (ood).
    result = metrics.ood_metrics([1.0, 3.0], [2.0, 0.0])
    assert result["auroc"] == pytest.approx(3 / 4)  # 3 of 4 (in, ood) pairs ordered
    assert result["aupr_in"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # OOD as positive with score -LL: ranked 0 (ood), 1 (in), 2 (ood), 3 (in).
    assert result["aupr_out"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # TPR 95% needs the threshold at 1.0, which lets the OOD score 2.0 through.
    assert result["fpr_at_95_tpr"] == pytest.approx(0.5)
    perfect = metrics.ood_metrics([3.0, 4.0], [1.0, 2.0])
    assert perfect == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, "fpr_at_95_tpr": 0.0}


def test_metrics_handle_infinite_scores_and_reject_nan():
    result = metrics.ood_metrics([-1.0, -2.0], [-np.inf, -5.0])
    assert result["auroc"] == 1.0
    with pytest.raises(ValueError, match="1 OOD scores are NaN"):
        metrics.ood_metrics([0.0], [np.nan])
