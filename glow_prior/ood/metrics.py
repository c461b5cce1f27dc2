"""OOD detection metrics of a score (scikit-learn).

Every score is oriented so that higher means "more in-distribution". Keys and the names
OpenOOD (Zhang et al. 2023) and pytorch-ood print them under:

* auroc (AUROC): the same whichever class is positive;
* aupr_in (AUPR_IN): average precision with in-distribution positive, ranked by the score;
* aupr_out (AUPR_OUT): average precision with OOD positive, ranked by -score (OpenOOD
  integrates the precision-recall curve with trapezoids instead, which can differ in the
  third decimal);
* fpr_at_95_tpr_ood_positive (FPR@95, as OpenOOD): OOD positive, the fraction of
  in-distribution examples flagged when 95% of the OOD examples are;
* fpr_at_95_tpr (this project's, in-distribution positive): the fraction of OOD examples
  accepted when 95% of the in-distribution examples are.
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


METRIC_NAMES = {"auroc": "AUROC", "aupr_in": "AUPR_IN", "aupr_out": "AUPR_OUT",
                "fpr_at_95_tpr_ood_positive": "FPR@95 (OOD positive, as OpenOOD)",
                "fpr_at_95_tpr": "FPR@95%TPR (in-distribution positive)"}
POSITIVE_CLASS = ("AUROC, AUPR_IN and FPR@95%TPR (fpr_at_95_tpr) take in-distribution as "
                  "the positive class; AUPR_OUT and FPR@95 (fpr_at_95_tpr_ood_positive, "
                  "OpenOOD's and pytorch-ood's) take OOD as positive")


METRIC_HEADER = ["AUROC", "AUPR_IN", "AUPR_OUT", "FPR@95 (OOD positive)",
                 "FPR@95%TPR (in-distribution positive)"]


def metric_row(entry):
    """The values of an ood_metrics entry in METRIC_HEADER's order."""
    return [entry["auroc"], entry["aupr_in"], entry["aupr_out"],
            entry["fpr_at_95_tpr_ood_positive"], entry["fpr_at_95_tpr"]]


def ood_metrics(score_in, score_ood):
    """AUROC, AUPR (in and out) and both FPRs at 95% TPR of a score as an OOD detector."""
    labels, scores = labelled(score_in, score_ood)
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    fpr_ood, tpr_ood, _ = metrics.roc_curve(1 - labels, -scores)
    return {
        "auroc": float(metrics.roc_auc_score(labels, scores)),
        "aupr_in": float(metrics.average_precision_score(labels, scores)),
        "aupr_out": float(metrics.average_precision_score(1 - labels, -scores)),
        "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
        "fpr_at_95_tpr_ood_positive": float(fpr_ood[np.argmax(tpr_ood >= 0.95)]),
    }


def roc_curve(score_in, score_ood):
    """(false positive rates, true positive rates) for plotting."""
    fpr, tpr, _ = metrics.roc_curve(*labelled(score_in, score_ood))
    return fpr, tpr
