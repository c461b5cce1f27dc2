"""Detectors saved with the run they belong to, bound to the weights they were fitted on.

A saved detector is a folder (RUN/detectors/NAME by fit_detector):

    detector.json   the settings (score, output, tpr, seed, ...), the threshold, and what it
                    was fitted on: the run (its path relative to the folder and its run id),
                    the checkpoint (name and step) and a fingerprint of the weights
                    (glow_prior.models.weights.weights_fingerprint), likewise for a
                    background model or ensemble
    fit.npz         the examples the score was fitted on (train_x, train_y) and the
                    calibration scores

A threshold holds for the weights it was calibrated on only. Loading checks the weights the
detector would score with against the recorded fingerprint (and run id, where both are
known) and refuses other weights, in one line naming both, unless `allow_other_weights`:
a detector folder copied into another run directory, or kept after the run trained on, is
refused. Loading refits the score on the saved examples (every fit is deterministic), so
a loaded detector scores as the saved one, up to float32 rounding; nothing is unpickled.
Every field of both files is checked on reading; a damaged or hand-edited file is one
InputError naming the file and the field.
"""
import json
import math
import os
import zipfile

import numpy as np
from scipy import stats

from glow_prior import data, files
from glow_prior.errors import InputError
from glow_prior.models.scoring import check_inputs
from glow_prior.models.weights import weights_fingerprint
from glow_prior.ood.base import SCORES
from glow_prior.ood.detector import Detector
from glow_prior.ood.evaluate import subset
from glow_prior.runs.evaluate import companion_model
from glow_prior.runs.load import load_model

DETECTORS_DIR = "detectors"
DETECTOR_FILE = "detector.json"
FIT_FILE = "fit.npz"
FORMAT = 2


# ------------------------------------------------------------------ what a model is
def weights_record(model, logdir=None, folder=None):
    """What identifies the weights a detector scores with: the run (path relative to the
    detector's folder, run id), its checkpoint and the weights' fingerprint."""
    spec = getattr(model, "run_spec", None)
    checkpoint = getattr(model, "checkpoint_path", None)
    record = {"run_id": getattr(spec, "run_id", None),
              "checkpoint": os.path.basename(checkpoint) if checkpoint else None,
              "step": int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None,
              "weights": weights_fingerprint(model)}
    if logdir is not None:
        record["path"] = os.path.relpath(os.path.abspath(logdir), os.path.abspath(folder))
    return record


def _describe(record):
    run = f"run {record['run_id']}" if record.get("run_id") else "a model"
    where = f" at {record['checkpoint']}" if record.get("checkpoint") else ""
    return f"{run}{where} (weights {record['weights']})"


def check_binding(fitted, model, what, allow_other_weights=False):
    """Raises InputError unless `model` has the weights `fitted` records (see the module
    docstring)."""
    current = weights_record(model)
    same_run = not (fitted.get("run_id") and current["run_id"]) or \
        fitted["run_id"] == current["run_id"]
    if (same_run and fitted["weights"] == current["weights"]) or allow_other_weights:
        return
    reason = "another run" if not same_run else "other weights of the same run"
    raise InputError(f"{what} was fitted on {_describe(fitted)} but would score with "
                     f"{reason}: {_describe(current)}; its threshold holds only for the "
                     "weights it was fitted on: refit it (fit_detector), or apply it anyway "
                     "with --allow_other_weights")


# ------------------------------------------------------------------------- saving
def save_detector(detector, path, logdir=None, background_logdir=None, ensemble_logdirs=()):
    """Writes the detector folder `path` (replacing a previous one atomically); logdir:
    the run directory its model was loaded from (and those of its background model and
    ensemble members), recorded relative to `path`."""
    settings = dict(detector.settings, format=FORMAT)
    settings["fitted_on"] = weights_record(detector.model, logdir, path)
    companions = {}
    if detector.background is not None:
        companions["background"] = weights_record(detector.background, background_logdir, path)
    if detector.ensemble:
        companions["ensemble"] = [weights_record(member, d, path) for member, d in
                                  zip(detector.ensemble, ensemble_logdirs or
                                      [None] * len(detector.ensemble))]
    settings["companions"] = companions
    x, labels = detector.train
    arrays = {"train_x": x, "calibration_scores": detector.calibration_scores}
    if labels is not None:
        arrays["train_y"] = np.asarray(labels)
    with files.staged_directory(path, overwrite=True, what="save the detector") as staging:
        files.write_json(os.path.join(staging, DETECTOR_FILE), settings)
        np.savez(os.path.join(staging, FIT_FILE), **arrays)
    return path


# ------------------------------------------------------------------------ loading
def _field(settings, name, kind, source, check=None, required=True):
    if name not in settings:
        if not required:
            return None
        raise InputError(f"{source} has no field '{name}' (the file is damaged; refit the "
                         "detector with fit_detector)")
    value = settings[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        raise InputError(f"{source}: field '{name}' must be "
                         f"{' or '.join(k.__name__ for k in kinds)}, got {value!r}")
    if check is not None:
        problem = check(value)
        if problem:
            raise InputError(f"{source}: field '{name}' {problem}, got {value!r}")
    return value


def _finite(value):
    return None if math.isfinite(value) else "must be a finite number"


def _weights_fields(record, source, name):
    if not isinstance(record, dict):
        raise InputError(f"{source}: field '{name}' must be an object, got {record!r}")
    where = f"{source} ({name})"
    _field(record, "weights", str, where)
    for key in ("run_id", "checkpoint"):
        _field(record, key, (str, type(None)), where, required=False)
    _field(record, "step", (int, type(None)), where, required=False)
    _field(record, "path", str, where, required=False)
    return record


def read_settings(path):
    """detector.json of the folder `path`, every field checked (see the module docstring)."""
    source = os.path.join(path, DETECTOR_FILE)
    if not os.path.isfile(source):
        raise InputError(f"{source} does not exist: {path} is not a detector folder "
                         "(fit_detector writes one)")
    with files.on_user_path(source, "read the detector"):
        with open(source) as f:
            try:
                settings = json.load(f)
            except json.JSONDecodeError as error:
                raise InputError(f"{source} is not a detector file: {error}") from error
    if not isinstance(settings, dict):
        raise InputError(f"{source} must hold a JSON object, got {type(settings).__name__}")
    version = settings.get("format")
    if version != FORMAT:
        raise InputError(f"{source} has format {version!r}; this version reads format "
                         f"{FORMAT} (detectors written before they were bound to their "
                         "weights must be refitted with fit_detector)")
    _field(settings, "score", str, source,
           lambda v: None if v in SCORES else f"must be one of {', '.join(SCORES)}")
    _field(settings, "output", str, source)
    _field(settings, "tpr", float, source,
           lambda v: None if 0.0 < v < 1.0 else "must be in (0, 1)")
    _field(settings, "threshold", float, source, _finite)
    _field(settings, "seed", int, source)
    _field(settings, "batch_size", int, source, lambda v: None if v >= 1 else "must be >= 1")
    _field(settings, "dequantize", bool, source)
    _field(settings, "options", dict, source)
    _weights_fields(settings.get("fitted_on"), source, "fitted_on")
    companions = _field(settings, "companions", dict, source)
    if "background" in companions:
        _weights_fields(companions["background"], source, "companions.background")
    for index, member in enumerate(_field(companions, "ensemble", list, source,
                                          required=False) or []):
        _weights_fields(member, source, f"companions.ensemble[{index}]")
    return settings


def read_fit(path, model):
    """(train examples, their labels or None, calibration scores) of fit.npz, checked
    against the model they are for."""
    source = os.path.join(path, FIT_FILE)
    if not os.path.isfile(source):
        raise InputError(f"{source} does not exist: the detector folder {path} is incomplete; "
                         "refit it with fit_detector")
    try:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"{source} is damaged and cannot be read ({error}); refit the "
                         "detector with fit_detector") from error
    for name in ("train_x", "calibration_scores"):
        if name not in arrays:
            raise InputError(f"{source} has no array '{name}' (keys: {sorted(arrays)}); refit "
                             "the detector with fit_detector")
    labels = arrays.get("train_y")
    try:
        check_inputs(model, arrays["train_x"], labels if model.conditional else None,
                     f"{source}: train_x")
    except InputError as error:
        raise InputError(f"{error} (the examples do not fit the detector's model)") from error
    if labels is not None and (labels.shape != (len(arrays["train_x"]),) or
                               not np.issubdtype(labels.dtype, np.integer)):
        raise InputError(f"{source}: train_y must hold one integer label per train_x "
                         f"example, got {labels.dtype} {labels.shape}")
    calibration = arrays["calibration_scores"]
    if calibration.ndim != 1 or not np.issubdtype(calibration.dtype, np.floating) or \
            len(calibration) == 0 or not np.all(np.isfinite(calibration)):
        raise InputError(f"{source}: calibration_scores must be a non-empty 1-D array of "
                         f"finite floats, got {calibration.dtype} {calibration.shape}")
    return arrays["train_x"], labels, calibration


def _companion(folder, record, use_polyak, what, allow_other_weights):
    if not record.get("path"):
        raise InputError(f"{what} of the detector {folder} records no run directory")
    model, _ = load_model(os.path.normpath(os.path.join(folder, record["path"])),
                          use_polyak=use_polyak)
    check_binding(record, model, f"the {what} of detector {folder}", allow_other_weights)
    return model


def load_detector(path, model=None, use_polyak=False, allow_other_weights=False):
    """The detector saved at `path`, with `model` (default: the model of the run directory
    recorded in it) and the background model / ensemble it was fitted with; refuses
    weights other than those it was fitted on unless `allow_other_weights`."""
    settings = read_settings(path)
    fitted = settings["fitted_on"]
    if model is None:
        model = _companion(path, fitted, use_polyak, "run", allow_other_weights)
    else:
        check_binding(fitted, model, f"detector {path}", allow_other_weights)
    outputs = SCORES[settings["score"]]().outputs(model)
    if settings["output"] not in outputs:
        raise InputError(f"{os.path.join(path, DETECTOR_FILE)}: field 'output' must be one "
                         f"of {outputs} for score '{settings['score']}', got "
                         f"{settings['output']!r}")
    x, labels, calibration = read_fit(path, model)
    companions = settings["companions"]
    background = None
    if "background" in companions:
        background = _companion(path, companions["background"], use_polyak,
                                "background model", allow_other_weights)
    ensemble = tuple(_companion(path, member, use_polyak, f"ensemble member {index}",
                                allow_other_weights)
                     for index, member in enumerate(companions.get("ensemble", ())))
    return Detector(model, settings, (x, labels), calibration, background, ensemble)


# ------------------------------------------------------------- fit_detector's work
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


def rate_with_interval(flags):
    """(fraction of True, its exact 95% binomial (Clopper-Pearson) interval)."""
    flags = np.asarray(flags, bool)
    interval = stats.binomtest(int(flags.sum()), len(flags)).proportion_ci(0.95, "exact")
    return float(flags.mean()), (float(interval.low), float(interval.high))


def _rate_text(rate, interval):
    return f"{rate:.1%} (95% interval {interval[0]:.1%}-{interval[1]:.1%})"


def fit_for_run(options):
    """Fits, saves and checks a detector for fit_detector's options (a
    glow_prior.config.evaluation.DetectorOptions); returns a summary."""
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    train, test, ood_sets = data.evaluation_sets(spec, options.ood_datasets,
                                                 options.data_dir)
    background = companion_model(options.background_logdir, spec, "--background_logdir",
                                 options.use_polyak) if options.background_logdir else None
    ensemble = tuple(companion_model(d, spec, "ensemble member", options.use_polyak)
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
    save_detector(detector, path, options.logdir, options.background_logdir or None,
                  options.ensemble_logdirs)
    lines = [f"Detector '{name}' -> {path}: {detector.settings['output']} with threshold "
             f"{detector.threshold:.6g} (instance score = -score), fitted on {len(fit_x)} "
             f"training images, calibrated on {len(calibration[0])} images ({where}) "
             f"to keep {options.tpr:.1%} of in-distribution inputs."]
    if check is not None:
        outliers = detector.predict(*_labelled(check, labelled))["data"]["is_outlier"]
        lines.append(f"Check on the other {len(check[0])} test images: "
                     f"{_rate_text(*rate_with_interval(~outliers))} accepted (the realised "
                     "true-positive rate).")
    for ood_name, ood in ood_sets.items():
        flagged = detector.predict(*_labelled((ood.x, ood.y), labelled))["data"]["is_outlier"]
        lines.append(f"{ood_name}: {_rate_text(*rate_with_interval(flagged))} of "
                     f"{len(ood.x)} flagged (1 - the false-positive rate).")
    return "\n".join(lines)


def _labelled(examples, labelled):
    return examples[0], examples[1] if labelled else None
