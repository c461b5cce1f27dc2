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
import dataclasses
import os
import sys

from glow_prior import cli
from glow_prior.config import Config, option
from glow_prior.config.common import threads_option
from glow_prior.errors import InputError


@dataclasses.dataclass(frozen=True)
class EvaluateOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    ood_datasets: tuple = option((), "OOD datasets (tfds names, constant, noise, "
                                 "other_labels; for tabular runs their own OOD sets).")
    data_dir: str = option(None, "tfds data_dir (overrides the run's).")
    dataset: str = option(None, "In-distribution dataset, for runs that do not record it "
                          "(imported OpenAI checkpoints).")
    n_eval: int = option(0, "Score at most this many examples per set (0: all).", lower=0)
    dequantization: str = option("uniform", "Test-time noise.", choices=("none", "uniform"))
    seed: int = option(0, "Seed of the dequantisation noise and subsets.")
    batch_size: int = option(256, "Evaluation batch size.", lower=1)
    use_polyak: bool = option(False, "Evaluate the Polyak-averaged weights.")
    output_dir: str = option(None, "Where reports go (default: --logdir).")
    importance_samples: int = option(0, "VAE runs: importance samples per image (0: the "
                                     "run's own setting).", lower=0)
    scores: tuple = option(("default",), "OOD scores: 'default' (every score the model "
                           "supports with the given background model / ensemble, except the "
                           "expensive ones: likelihood regret and the gradient scores), "
                           "'all' (those too), or names.")
    background_logdir: str = option("", "Run directory of the background model of the "
                                    "likelihood ratio (trained with --perturbation_rate).")
    ensemble_logdirs: tuple = option((), "Run directories of 3 or more models of this "
                                     "config with other seeds (WAIC); may include --logdir.")
    regret_steps: int = option(100, "Likelihood regret: Adam steps re-optimising the "
                               "encoder per input.", lower=1)
    regret_lr: float = option(1e-4, "Likelihood regret: Adam learning rate.", lower=0.0)
    threads: int = threads_option()


def run(args):
    from glow_prior import ood  # TensorFlow loads here
    options = args.evaluate
    result, _ = ood.evaluate_logdir(options)
    title = run_name(options.logdir)
    report = ood.write_report(result, options.output_dir or options.logdir, title)
    print(ood.report_markdown(report, title))


def run_name(logdir):
    """A run's name for titles: its directory's name (not the absolute path)."""
    return os.path.basename(os.path.normpath(logdir))


def check_scores(args):
    if args.evaluate.ensemble_logdirs and len(args.evaluate.ensemble_logdirs) < 3:
        raise InputError("--ensemble_logdirs needs 3 or more run directories (WAIC)")


APP = cli.App("evaluate_ood", __doc__, {"evaluate": EvaluateOptions}, run,
              checks=(check_scores,))
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
