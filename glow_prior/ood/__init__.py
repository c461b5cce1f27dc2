"""Out-of-distribution detection with likelihood models.

* glow_prior.ood.base: what a score is (one class each), the registry, ScoreInputs;
* the scores: likelihood (log-likelihood, typicality, likelihood ratio, input complexity,
  WAIC, DoSE, mixture-component and per-level scores), regret (likelihood regret), latent
  (goodness of fit of z to the prior), gradients (score statistic, Fisher-combined test,
  layer-wise gradient norms);
* evaluate: every requested score on the same sets, with metrics -> OODResult;
* report: ood_report.json/.md, ood_scores.npz and figures from an OODResult;
* detector: a fitted score with a threshold, alibi-detect's predict output, save/load.

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
from glow_prior.ood.evaluate import OODResult, ScoreOptions, evaluate_logdir, evaluate_run
from glow_prior.ood.report import report_markdown, write_report

__all__ = ["Detector", "OODResult", "SCORES", "Score", "ScoreInputs", "ScoreOptions",
           "available", "evaluate_logdir", "evaluate_run", "register", "report_markdown",
           "requested", "write_report"]
