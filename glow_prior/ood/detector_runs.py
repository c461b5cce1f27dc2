"""Detectors of runs: what fit_detector does (glow_prior.apps.fit_detector), on a run's
own data."""
import os

import numpy as np

from glow_prior import data
from glow_prior.errors import InputError
from glow_prior.models.registry import load_model
from glow_prior.ood.detector import Detector
from glow_prior.ood.evaluate import _companion, subset

DETECTORS_DIR = "detectors"


def _split_test(test, seed):
    """(calibration half, check half) of a seeded permutation of the test split."""
    order = np.random.default_rng([seed, 23]).permutation(len(test.x))
    first, second = np.sort(order[:len(order) // 2]), np.sort(order[len(order) // 2:])
    return (test.x[first], test.y[first]), (test.x[second], test.y[second])


def calibration_sets(spec, options, test):
    """((x, y) calibration images, (x, y) check images or None, the split's name)."""
    held_out = data.held_out_training(spec.data) if spec.data_kind == "images" else None
    choice = options.calibration
    if choice == "auto":
        choice = "held_out" if held_out is not None else "test_half"
    if choice == "held_out":
        if held_out is None:
            raise InputError(f"{options.logdir} trained on all its training images, so none "
                             "are held out; use --calibration=test_half")
        return (held_out.x, held_out.y), None, "training images outside the run's --subset"
    calibration, check = _split_test(test, options.seed)
    return calibration, check, "a seeded half of the test split (the other half checks it)"


def fit_for_run(options):
    """Fits, saves and checks a detector for fit_detector's options; returns a summary."""
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    train, test, ood_sets = data.evaluation_sets(spec, options.ood_datasets,
                                                 options.data_dir)
    background = _companion(options.background_logdir, spec, "--background_logdir",
                            options.use_polyak) if options.background_logdir else None
    ensemble = tuple(_companion(d, spec, "ensemble member", options.use_polyak)
                     for d in options.ensemble_logdirs)
    calibration, check, where = calibration_sets(spec, options, test)
    fit_x, fit_y = subset(train, options.n_fit, options.seed)
    labelled = model.conditional
    detector = Detector.fit(
        model, fit_x, calibration[0], options.score, options.tpr, options.output or None,
        options.seed, options.batch_size, options.dequantization == "uniform", background,
        ensemble, {"regret_steps": options.regret_steps, "regret_lr": options.regret_lr},
        labels=(fit_y if labelled else None, calibration[1] if labelled else None))
    detector.settings["calibration"] = where
    name = options.name or detector.settings["output"]
    path = os.path.join(options.logdir, DETECTORS_DIR, name)
    detector.save(path, options.logdir, {"background": options.background_logdir,
                                         "ensemble": list(options.ensemble_logdirs)})
    lines = [f"Detector '{name}' -> {path}: {detector.settings['output']} with threshold "
             f"{detector.threshold:.6g} (instance score = -score), fitted on {len(fit_x)} "
             f"training images, calibrated on {len(calibration[0])} images ({where}) "
             f"to keep {options.tpr:.1%} of in-distribution inputs."]
    if check is not None:
        accepted = 1.0 - detector.predict(*_labelled(check, labelled))["data"][
            "is_outlier"].mean()
        lines.append(f"Check on the other {len(check[0])} test images: {accepted:.1%} "
                     "accepted.")
    for ood_name, ood in ood_sets.items():
        flagged = detector.predict(*_labelled((ood.x, ood.y), labelled))["data"][
            "is_outlier"].mean()
        lines.append(f"{ood_name}: {flagged:.1%} of {len(ood.x)} flagged.")
    return "\n".join(lines)


def _labelled(examples, labelled):
    return examples[0], examples[1] if labelled else None
