"""Out-of-distribution evaluation of a trained or imported model.

    evaluate_ood --logdir=DIR --ood_datasets=mnist[,...]

    evaluate_ood --logdir=DIR --ood_datasets=mnist --scores=all \
        --background_logdir=BG --ensemble_logdirs=DIR,DIR_SEED1,DIR_SEED2

Scores the in-distribution train and test data (as the run defines them) and the test split
of every OOD dataset with every requested OOD score (glow_prior/ood/: log_likelihood,
typicality and its batch test, likelihood_ratio, input_complexity_png/_jpeg2000, waic,
dose_kde, dose_ocsvm, max_component, component_confidence, level_k, level_llr,
latent_norm_test, latent_ks, likelihood_regret, score_statistic, score_typicality_fisher,
gradient_norms), all oriented so that higher = more in-distribution. Metrics per score and
OOD set: AUROC, AUPR_IN, AUPR_OUT, FPR@95 with OOD positive (as OpenOOD) and FPR at 95%
TPR with in-distribution positive. Writes into --output_dir (default --logdir), once
everything is computed: ood_report.json (`ood_datasets`: the log-likelihood's metrics and
means; `scores`: {output: {ood set: metrics}}; `typicality`: the batch test; `costs`: the
seconds each score took), ood_report.md, every per-image score (ood_scores.npz, keys
OUTPUT/SET) and figures: log-likelihood histograms, ROC curves per OOD set, the images
behind the numbers (the OOD images with the highest scores and the in-distribution images
with the lowest), a latent-coordinate histogram, decoded prior component means,
log-likelihood contours (2-D data), the VAE's second-order analysis.
OOD sets: tfds names, the synthetic `constant` and `noise`, and `other_labels` (the
in-distribution dataset's test images of the labels the run did not train on). Tabular
runs define their own OOD sets (e.g. synthetic_ood, class_0); --ood_datasets then selects
among them.
"""
import sys

from glow_prior.apps import cli
from glow_prior.config.evaluation import EvaluateOptions
from glow_prior.errors import InputError


def run(args):
    """Evaluates the run, writes its report and prints the markdown
    (glow_prior.api.evaluate_run)."""
    from glow_prior import api  # TensorFlow loads here
    from glow_prior.reports.ood_report import report_markdown
    from glow_prior.runs.evaluate import run_name
    report = api.evaluate_run(args.evaluate)
    print(report_markdown(report, run_name(args.evaluate.logdir)))


def check_scores(args):
    """WAIC needs an ensemble of at least three runs."""
    if args.evaluate.ensemble_logdirs and len(args.evaluate.ensemble_logdirs) < 3:
        raise InputError("--ensemble_logdirs needs 3 or more run directories (WAIC)")


APP = cli.App("evaluate_ood", __doc__, {"evaluate": EvaluateOptions}, run,
              checks=(check_scores,))
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
