"""Out-of-distribution evaluation of a trained or imported model.

    evaluate_ood --logdir=DIR --ood_datasets=mnist[,...]

Scores the in-distribution train and test data (as the run defines them) and the test split
of every OOD dataset; writes DIR/ood_report.json (per OOD set: auroc, aupr_in, aupr_out,
fpr_at_95_tpr, in/ood mean log-likelihood and bits/dim; in-distribution is the positive
class, higher log-likelihood = more in-distribution), DIR/ood_report.md, per-example scores
(ood_scores.npz) and figures: log-likelihood histograms, a latent-coordinate histogram,
decoded prior component means (image models), log-likelihood contours (2-D data).
OOD sets: tfds names, the synthetic `constant` and `noise`, and `other_labels` (the
in-distribution dataset's test images of the labels the run did not train on). Tabular
runs define their own OOD sets (e.g. synthetic_ood, class_0); --ood_datasets then selects
among them.
"""
import dataclasses
import sys

from glow_prior import cli
from glow_prior.config import Config, option


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


def run(args):
    from glow_prior import data, evaluation  # TensorFlow loads here
    from glow_prior.models.registry import load_model
    options = args.evaluate
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    if options.importance_samples and hasattr(model, "importance_samples"):
        model.importance_samples = options.importance_samples
    train, test, ood_sets = data.evaluation_sets(spec, options.ood_datasets,
                                                 options.data_dir, options.dataset)
    report = evaluation.evaluate_run(
        model, train, test, ood_sets, options.output_dir or options.logdir,
        options.batch_size, options.seed, options.dequantization == "uniform",
        options.n_eval, title=options.logdir)
    print(evaluation.report_markdown(report, options.logdir))


APP = cli.App("evaluate_ood", __doc__, {"evaluate": EvaluateOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
