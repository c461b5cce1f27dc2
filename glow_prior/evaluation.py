"""Scoring models and out-of-distribution metrics.

Scores are per-image log-likelihoods in nats (OpenAI's convention for flows: including
-D log n_bins) and bits/dim = -log-likelihood / (D ln 2). For OOD detection the
in-distribution set is the positive class and a higher log-likelihood means "more
in-distribution"; AUROC, AUPR and FPR at 95% TPR come from scikit-learn.
"""
import dataclasses

import numpy as np
import tensorflow as tf
from sklearn import metrics

from glow_prior.objectives import bits_per_dim

SCORE_CONVENTION = ("in-distribution is the positive class; the score is the per-image "
                    "log-likelihood (higher = more in-distribution)")


@dataclasses.dataclass
class Scores:
    log_likelihood: np.ndarray
    bits_per_dim: np.ndarray


def score(model, x, batch_size, seed=0, dequantize=True, y=None):
    """Per-example log-likelihoods of `x` under `model`, in batches.

    With dequantize=True, the batch starting at example i gets uniform noise from the
    stateless seed (seed, i): the same seed and batch size give the same numbers. `y`
    (labels) is needed only by class-conditional models.
    """
    scorer = tf.function(model.score, reduce_retracing=True)
    results = []
    for start in range(0, len(x), batch_size):
        batch = tf.convert_to_tensor(x[start:start + batch_size])
        labels = None if y is None else tf.convert_to_tensor(y[start:start + batch_size])
        seed_pair = tf.constant([seed, start], tf.int64)
        results.append(scorer(batch, seed_pair, dequantize, y=labels).numpy())
    log_likelihood = np.concatenate(results) if results else np.zeros([0], np.float32)
    return Scores(log_likelihood, bits_per_dim(log_likelihood, model.num_dims))


def _finite_scores(scores, what):
    scores = np.asarray(scores, np.float64)
    if np.isnan(scores).any():
        raise ValueError(f"{np.isnan(scores).sum()} {what} scores are NaN")
    finite = scores[np.isfinite(scores)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    return np.clip(scores, low - 1.0, high + 1.0)


def ood_metrics(ll_in, ll_ood):
    """AUROC, AUPR (in and out) and FPR at 95% TPR of log-likelihood as an OOD detector."""
    ll_in, ll_ood = _finite_scores(ll_in, "in-distribution"), _finite_scores(ll_ood, "OOD")
    labels = np.concatenate([np.ones(len(ll_in)), np.zeros(len(ll_ood))])
    scores = np.concatenate([ll_in, ll_ood])
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    return {
        "auroc": float(metrics.roc_auc_score(labels, scores)),
        "aupr_in": float(metrics.average_precision_score(labels, scores)),
        "aupr_out": float(metrics.average_precision_score(1 - labels, -scores)),
        "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
    }
