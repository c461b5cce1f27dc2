"""Fits an OOD detector on a trained run: one score, thresholded at a stated
in-distribution true-positive rate, saved with the run.

    fit_detector --logdir=RUN [--score=typicality --tpr=0.95 --ood_datasets=mnist]

The score is fitted (typicality's entropy, DoSE's densities, the Fisher information, ...)
on --n_fit of the run's training images; the threshold is the (1 - tpr) quantile of the
score over held-out in-distribution images: the run's unused training images when it
trained on a --subset, else a seeded half of its test split (--calibration=test_half),
whose other half then checks the rate. Writes RUN/detectors/NAME/ (detector.json, fit.npz)
and prints the realised true-positive rate on the check images and the fraction of each
--ood_datasets set flagged. Apply it with `detect`, from Python with
glow_prior.ood.Detector.load, or in a SavedModel with export_savedmodel --detector.
"""
import dataclasses
import sys

from glow_prior import cli
from glow_prior.config import Config, option
from glow_prior.config.common import threads_option

CALIBRATIONS = ("auto", "held_out", "test_half")


@dataclasses.dataclass(frozen=True)
class DetectorOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    score: str = option("log_likelihood", "The OOD score (a glow_prior.ood score name).")
    output: str = option("", "The score's output to threshold (e.g. level_1; default: the "
                         "score's first).")
    tpr: float = option(0.95, "In-distribution true-positive rate the threshold keeps.",
                        lower=0.0, upper=1.0)
    name: str = option("", "Folder name under RUN/detectors (default: the output's name).")
    n_fit: int = option(2000, "Training images the score is fitted on (0: all).", lower=0)
    calibration: str = option("auto", "Held-out in-distribution images of the threshold: "
                              "held_out (training images outside the run's --subset), "
                              "test_half (a seeded half of the test split; the other half "
                              "checks the rate), auto (held_out where the run has them).",
                              choices=CALIBRATIONS)
    ood_datasets: tuple = option((), "OOD sets to report the flagged fraction of.")
    background_logdir: str = option("", "Background model (likelihood_ratio).")
    ensemble_logdirs: tuple = option((), "Ensemble members (waic).")
    data_dir: str = option(None, "tfds data_dir (overrides the run's).")
    dequantization: str = option("uniform", "Test-time noise.", choices=("none", "uniform"))
    seed: int = option(0, "Seed of the noise and the splits.")
    batch_size: int = option(256, "Evaluation batch size.", lower=1)
    use_polyak: bool = option(False, "Use the Polyak-averaged weights.")
    regret_steps: int = option(100, "Likelihood regret: Adam steps per input.", lower=1)
    regret_lr: float = option(1e-4, "Likelihood regret: Adam learning rate.", lower=0.0)
    threads: int = threads_option()


def run(args):
    from glow_prior.ood import detector_runs  # TensorFlow loads here
    summary = detector_runs.fit_for_run(args.detector)
    print(summary)


APP = cli.App("fit_detector", __doc__, {"detector": DetectorOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
