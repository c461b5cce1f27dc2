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
import sys

from glow_prior.apps import cli
from glow_prior.config.evaluation import DetectorOptions


def run(args):
    """Fits and saves the detector, printing its check (glow_prior.api.fit_run_detector)."""
    from glow_prior import api  # TensorFlow loads here
    print(api.fit_run_detector(args.detector))


APP = cli.App("fit_detector", __doc__, {"detector": DetectorOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
