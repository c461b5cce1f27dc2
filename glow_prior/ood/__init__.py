"""Out-of-distribution detection with likelihood models.

* glow_prior.ood.base: what a score is (one class each), the registry, ScoreInputs;
* the scores: likelihood (log-likelihood, typicality, likelihood ratio, input complexity,
  WAIC, DoSE, mixture-component and per-level scores), regret (likelihood regret), latent
  (goodness of fit of z to the prior), gradients (score statistic, Fisher-combined test,
  layer-wise gradient norms);
* metrics: AUROC, AUPR and FPR@95 (scikit-learn), both positive-class conventions;
* evaluate: every requested score on the same sets, with metrics -> OODResult;
* detector: a fitted score with a threshold, alibi-detect's predict output.

Writing reports is glow_prior.reports.ood_report's job; saving detectors with their run,
glow_prior.runs.detectors'.

Importing this package registers every score above; a score defined elsewhere joins them
with `@glow_prior.ood.register`.
"""
# Importing the score modules registers their scores, in this order (the reports' order).
from glow_prior.ood import likelihood  # noqa: F401  isort: skip
from glow_prior.ood import regret  # noqa: F401  isort: skip
from glow_prior.ood import latent  # noqa: F401  isort: skip
from glow_prior.ood import gradients  # noqa: F401  isort: skip
from glow_prior.ood.base import SCORES, Score, ScoreInputs, available, register, requested
from glow_prior.ood.detector import Detector
from glow_prior.ood.evaluate import OODResult, ScoreOptions, evaluate_arrays, evaluate_run

__all__ = ["Detector", "OODResult", "SCORES", "Score", "ScoreInputs", "ScoreOptions",
           "available", "evaluate_arrays", "evaluate_run", "register", "requested"]
