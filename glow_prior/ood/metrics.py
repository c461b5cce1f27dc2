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

`metric_intervals` gives each metric's 95% confidence interval: the percentile bootstrap
of scipy.stats.bootstrap, resampling the in-distribution and the OOD examples separately
(they are independent samples), 1000 resamples by default. The metrics of every resample
come from one vectorised pass (`curve_metrics`: sorted scores, cumulative true and false
positives, thresholds at distinct scores, as scikit-learn's curves are; AUROC is
scipy.stats.mannwhitneyu's U / (n_in n_ood)); on the examples themselves it gives
ood_metrics' numbers (tested against scikit-learn).
"""
import numpy as np
from scipy import stats
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


ROW_KEYS = ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr_ood_positive", "fpr_at_95_tpr")


def with_interval(value, interval, digits=4):
    """A table cell: the value, and its interval in brackets when there is one."""
    if interval is None:
        return value
    return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def metric_row(entry, intervals=None):
    """The values of an ood_metrics entry in METRIC_HEADER's order, each with its 95%
    interval where `intervals` ({metric: [low, high]}) has one."""
    intervals = intervals or {}
    return [with_interval(entry[key], intervals.get(key)) for key in ROW_KEYS]


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


METRIC_KEYS = ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr", "fpr_at_95_tpr_ood_positive")
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


def _ranked_rates(scores, positive):
    """(true positives, false positives, is the end of a group of equal scores) along the
    last axis, examples ranked by decreasing score; positive: bool, aligned with scores."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=-1)
    hits = np.take_along_axis(positive, order, axis=-1)
    true_positives = np.cumsum(hits, axis=-1)
    false_positives = np.cumsum(~hits, axis=-1)
    group_end = np.ones(ranked.shape, bool)
    group_end[..., :-1] = ranked[..., :-1] != ranked[..., 1:]
    return true_positives, false_positives, group_end


def _average_precision_and_fpr95(scores, positive):
    """Average precision (scikit-learn's: sum over thresholds of the recall step times the
    precision) and the false-positive rate at the first threshold with a true-positive
    rate of at least 95%, along the last axis."""
    true_positives, false_positives, ends = _ranked_rates(scores, positive)
    n_positive = true_positives[..., -1:]
    n_negative = false_positives[..., -1:]
    at_ends = np.where(ends, true_positives, 0)
    previous = np.concatenate([np.zeros_like(at_ends[..., :1]),
                               np.maximum.accumulate(at_ends, axis=-1)[..., :-1]], axis=-1)
    precision = true_positives / np.maximum(true_positives + false_positives, 1)
    average_precision = np.sum(np.where(ends, (true_positives - previous) * precision, 0.0),
                               axis=-1) / n_positive[..., 0]
    reached = ends & (true_positives >= 0.95 * n_positive)
    first = np.argmax(reached, axis=-1)[..., None]
    fpr = np.take_along_axis(false_positives, first, axis=-1)[..., 0] / n_negative[..., 0]
    return average_precision, fpr


def curve_metrics(score_in, score_ood, axis=-1):
    """The metrics of METRIC_KEYS, stacked on the first axis, of scores along `axis`
    (batches of resamples along the others): scipy.stats.bootstrap's vectorised
    statistic."""
    score_in = np.moveaxis(np.asarray(score_in, np.float64), axis, -1)
    score_ood = np.moveaxis(np.asarray(score_ood, np.float64), axis, -1)
    shape = np.broadcast_shapes(score_in.shape[:-1], score_ood.shape[:-1])
    score_in = np.broadcast_to(score_in, (*shape, score_in.shape[-1]))
    score_ood = np.broadcast_to(score_ood, (*shape, score_ood.shape[-1]))
    auroc = stats.mannwhitneyu(score_in, score_ood, axis=-1).statistic / (
        score_in.shape[-1] * score_ood.shape[-1])
    scores = np.concatenate([score_in, score_ood], axis=-1)
    is_in = np.zeros(scores.shape, bool)
    is_in[..., :score_in.shape[-1]] = True
    aupr_in, fpr_in = _average_precision_and_fpr95(scores, is_in)
    aupr_out, fpr_ood = _average_precision_and_fpr95(-scores, ~is_in)
    return np.stack([auroc, aupr_in, aupr_out, fpr_in, fpr_ood])


def metric_intervals(score_in, score_ood, n_resamples=BOOTSTRAP_RESAMPLES,
                     confidence=CONFIDENCE, seed=0):
    """{metric: [low, high]}: percentile-bootstrap confidence intervals of every metric
    (see the module docstring); None entries when a set has fewer than 2 examples."""
    score_in = _finite_scores(score_in, "in-distribution")
    score_ood = _finite_scores(score_ood, "OOD")
    if min(len(score_in), len(score_ood)) < 2 or n_resamples < 1:
        return {key: None for key in METRIC_KEYS}
    result = stats.bootstrap((score_in, score_ood), curve_metrics, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile",
                             paired=False, vectorized=True, batch=100,
                             random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return {key: [float(low[i]), float(high[i])] for i, key in enumerate(METRIC_KEYS)}


def mean_interval(values, n_resamples=BOOTSTRAP_RESAMPLES, confidence=CONFIDENCE, seed=0):
    """[low, high]: the percentile-bootstrap confidence interval of the mean of `values`
    (scipy.stats.bootstrap; None for fewer than 2 values)."""
    values = np.asarray(values, np.float64)
    if len(values) < 2 or n_resamples < 1:
        return None
    result = stats.bootstrap((values,), np.mean, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile",
                             vectorized=True, random_state=np.random.default_rng(seed))
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def roc_curve(score_in, score_ood):
    """(false positive rates, true positive rates) for plotting."""
    fpr, tpr, _ = metrics.roc_curve(*labelled(score_in, score_ood))
    return fpr, tpr
