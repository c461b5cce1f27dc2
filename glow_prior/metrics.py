"""OOD detection metrics of a score (scikit-learn).

The in-distribution set is the positive class and every score is oriented so that higher
means "more in-distribution". AUROC, AUPR with either class as positive, and the false
positive rate at 95% true positive rate.
"""
import numpy as np
from sklearn import metrics

from glow_prior.errors import InputError


def _finite_scores(scores, what):
    """Scores as float64 with +-inf clipped just beyond the finite range (a model may give
    an OOD image probability 0); NaN is refused."""
    scores = np.asarray(scores, np.float64)
    if np.isnan(scores).any():
        raise InputError(f"{np.isnan(scores).sum()} {what} scores are NaN")
    finite = scores[np.isfinite(scores)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    return np.clip(scores, low - 1.0, high + 1.0)


def labelled(score_in, score_ood):
    """(labels, scores): in-distribution 1, OOD 0."""
    score_in = _finite_scores(score_in, "in-distribution")
    score_ood = _finite_scores(score_ood, "OOD")
    labels = np.concatenate([np.ones(len(score_in)), np.zeros(len(score_ood))])
    return labels, np.concatenate([score_in, score_ood])


def ood_metrics(score_in, score_ood):
    """AUROC, AUPR (in and out) and FPR at 95% TPR of a score as an OOD detector."""
    labels, scores = labelled(score_in, score_ood)
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    return {
        "auroc": float(metrics.roc_auc_score(labels, scores)),
        "aupr_in": float(metrics.average_precision_score(labels, scores)),
        "aupr_out": float(metrics.average_precision_score(1 - labels, -scores)),
        "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
    }


def roc_curve(score_in, score_ood):
    """(false positive rates, true positive rates) for plotting."""
    fpr, tpr, _ = metrics.roc_curve(*labelled(score_in, score_ood))
    return fpr, tpr
