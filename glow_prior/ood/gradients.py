"""Gradient-based OOD scores: they need only the trained model and its gradients.

g(x) = d log p(x) / d theta, per example, over every trainable variable (flows: the
log-likelihood as scored; the VAE: its ELBO with the statistics' fixed draw, since its
importance-sampled estimate is too costly to differentiate per example). The training
examples scored are split in two seeded halves: the fit half estimates the diagonal
empirical Fisher information F = mean g^2 (Bergamin et al. add 1e-8) and the fitted
feature densities; the calibration half gives empirical p-values.

* score_statistic (Bergamin et al. 2022, "Model-agnostic out-of-distribution detection
  using combined statistical tests"): Rao's score statistic under the diagonal Fisher,
  s(x) = || g(x) / sqrt(F + 1e-8) ||; score -s(x).
* score_typicality_fisher (the same paper): the score test and the typicality test
  combined by Fisher's method: p-values p_s = P(s >= s(x)) and p_t = P(t >= t(x)), with
  t(x) = | log p(x) - mean log p(train) |, from the calibration half's empirical
  distribution ((1 + count) / (1 + n), never 0); Fisher's statistic -2 (log p_s + log p_t)
  is large for OOD inputs, the score is log p_s + log p_t.
* gradient_norms (Dauncey et al. 2024, "Approximations to the Fisher information metric of
  deep generative models for out-of-distribution detection"): the layer-wise features
  f_l(x) = log || g_l(x) ||^2, one per trainable variable (their per-parameter-tensor
  layers), each modelled by a Gaussian fitted on the fit half (their hyperparameter-free
  diagonal model of the joint density; features with zero variance are dropped); score
  sum_l log N(f_l(x); mu_l, sigma_l).
"""
import numpy as np
import scipy.stats
import tensorflow as tf

from glow_prior.models import scoring
from glow_prior.models.base import POSTERIOR
from glow_prior.ood.base import Score, register

FISHER_EPSILON = 1e-8
GRADIENT_BATCH = 32
TINY = 1e-30


class PerExampleGradients:
    """Per-example gradients of a model's objective, reduced to what the scores need."""

    def __init__(self, model):
        self.model = model
        self.variables = model.trainable_variables
        self._batch = tf.function(self._reduced, reduce_retracing=True)

    def objective(self, x, labels, seed):
        """What the gradients are of: the log-likelihood (flows) or the ELBO (VAEs), per
        example."""
        if self.model.supports(POSTERIOR):
            return self.model.elbo(x, seed)
        return self.model.log_prob(x, labels=labels, seed=seed)

    def _reduced(self, x, labels, seed, weights):
        """Per-example squared norms per variable [B, V], the weighted squared norm
        sum_j w_j g_j^2 [B] and the batch's sum of g^2 per parameter."""
        with tf.GradientTape() as tape:
            objective = self.objective(x, labels, seed)
        jacobians = tape.jacobian(objective, self.variables, experimental_use_pfor=True)
        squares = [tf.reshape(tf.square(j), [tf.shape(j)[0], -1]) for j in jacobians]
        norms = tf.stack([tf.reduce_sum(s, axis=1) for s in squares], axis=1)
        weighted = tf.add_n([tf.reduce_sum(s * tf.reshape(w, [1, -1]), axis=1)
                             for s, w in zip(squares, weights)])
        totals = [tf.reduce_sum(s, axis=0) for s in squares]
        return norms, weighted, totals

    def run(self, x, labels, seed, dequantize, weights=None):
        """(squared norms [N, V], weighted squared norms [N], mean g^2 per parameter)."""
        if weights is None:
            weights = [tf.zeros([int(np.prod(v.shape))], v.dtype) for v in self.variables]
        norms, weighted, totals = [], [], None
        for start in range(0, len(x), GRADIENT_BATCH):
            stop = start + GRADIENT_BATCH
            batch_labels = None if labels is None else tf.constant(labels[start:stop])
            n, w, t = self._batch(tf.constant(x[start:stop]), batch_labels,
                                  scoring.batch_seed(self.model, seed, start, dequantize),
                                  weights)
            norms.append(n.numpy())
            weighted.append(w.numpy())
            totals = [a.numpy() for a in t] if totals is None else \
                [a + b.numpy() for a, b in zip(totals, t)]
        return (np.concatenate(norms).astype(np.float64),
                np.concatenate(weighted).astype(np.float64),
                [total / len(x) for total in totals])


class GradientStatistics:
    """The gradient features of every set, with the Fisher information and the halves of
    the training examples (see the module docstring); one per evaluation."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.gradients = PerExampleGradients(inputs.model)
        n = len(inputs.examples("train"))
        order = np.random.default_rng([inputs.seed, 17]).permutation(n)
        self.fit_half, self.calibration_half = np.sort(order[:n // 2]), np.sort(order[n // 2:])
        x, labels = self._part("train", self.fit_half)
        fit_norms, _, mean_squares = self.gradients.run(x, labels, inputs.seed,
                                                        inputs.dequantize)
        self.fit_features = _log_features(fit_norms)
        self.inverse_fisher = [tf.constant(1.0 / (m + FISHER_EPSILON), v.dtype)
                               for m, v in zip(mean_squares, self.gradients.variables)]
        self._features = {}

    def _part(self, set_name, index=None):
        x = self.inputs.examples(set_name)
        labels = self.inputs.labels(set_name)
        if index is None:
            return x, labels
        return x[index], None if labels is None else labels[index]

    def features(self, set_name):
        """(log squared norms per variable [N, V], score statistic s(x) [N]) of a set, or
        of the calibration half for set_name "calibration"."""
        if set_name not in self._features:
            x, labels = self._part("train", self.calibration_half) \
                if set_name == "calibration" else self._part(set_name)
            norms, weighted, _ = self.gradients.run(x, labels, self.inputs.seed,
                                                    self.inputs.dequantize,
                                                    self.inverse_fisher)
            self._features[set_name] = (_log_features(norms), np.sqrt(weighted))
        return self._features[set_name]

    @staticmethod
    def of(inputs):
        return inputs.cached(("gradients",), lambda: GradientStatistics(inputs))


def _log_features(squared_norms):
    return np.log(np.maximum(squared_norms, TINY))


def empirical_p_value(calibration, values):
    """P(statistic >= value) under the calibration sample: (1 + count) / (1 + n)."""
    calibration = np.sort(np.asarray(calibration, np.float64))
    count = len(calibration) - np.searchsorted(calibration, values, side="left")
    return (1.0 + count) / (1.0 + len(calibration))


@register
class ScoreStatistic(Score):
    name = "score_statistic"
    reference = "Bergamin et al. 2022"
    expensive = True

    def fit(self, inputs):
        self.gradients = GradientStatistics.of(inputs)

    def compute(self, inputs, set_name):
        return -self.gradients.features(set_name)[1]


@register
class ScoreTypicalityFisher(Score):
    name = "score_typicality_fisher"
    reference = "Bergamin et al. 2022"
    expensive = True

    def fit(self, inputs):
        self.gradients = GradientStatistics.of(inputs)
        train = np.asarray(inputs.log_likelihood("train"), np.float64)
        self.mean_log_likelihood = train[self.gradients.fit_half].mean()
        self.calibration_typicality = np.abs(train[self.gradients.calibration_half]
                                             - self.mean_log_likelihood)
        self.calibration_score = self.gradients.features("calibration")[1]

    def compute(self, inputs, set_name):
        score = self.gradients.features(set_name)[1]
        typical = np.abs(np.asarray(inputs.log_likelihood(set_name), np.float64)
                         - self.mean_log_likelihood)
        return (np.log(empirical_p_value(self.calibration_score, score))
                + np.log(empirical_p_value(self.calibration_typicality, typical)))


@register
class GradientNorms(Score):
    name = "gradient_norms"
    reference = "Dauncey et al. 2024"
    expensive = True

    def fit(self, inputs):
        self.gradients = GradientStatistics.of(inputs)
        features = self.gradients.fit_features
        self.mean, self.std = features.mean(axis=0), features.std(axis=0, ddof=1)
        self.kept = np.isfinite(self.std) & (self.std > 0)

    def compute(self, inputs, set_name):
        features = self.gradients.features(set_name)[0][:, self.kept]
        return scipy.stats.norm.logpdf(features, self.mean[self.kept],
                                       self.std[self.kept]).sum(axis=1)
