"""Fitted OOD detectors: one score of a trained model with a threshold at a stated
in-distribution true-positive rate.

    detector = Detector.fit(model, train_x, calibration_x, score="typicality", tpr=0.95)
    detector.predict(images)
    # {"data": {"instance_score": [N], "is_outlier": [N]}, "meta": {...}}
    detector.save(path); Detector.load(path)

`predict` follows alibi-detect's convention: `instance_score` is an outlier score (higher
= more outlying: the negated glow_prior score) and `is_outlier` is instance_score >
threshold. The threshold is the (1 - tpr) quantile of the glow_prior score over
in-distribution calibration examples (held out from training: a run's unused training
images, or half of its test split), so that a fraction `tpr` of in-distribution inputs is
accepted. The score itself is fitted (DoSE's densities, typicality's entropy, the Fisher
information, ...) on training examples, exactly as glow_prior.ood.evaluate fits it.

A saved detector is a folder: detector.json (the settings, the threshold, the run it
belongs to) and fit.npz (the examples the score was fitted on, and the calibration
scores). Loading refits the score on those examples (every fit is deterministic), so a
loaded detector scores as the saved one, up to float32 rounding (compiled functions
specialise on the batch sizes they have seen); nothing is unpickled.
"""
import json
import os

import numpy as np

from glow_prior import files
from glow_prior.errors import InputError
from glow_prior.models.registry import load_model
from glow_prior.ood.base import SCORES, ScoreInputs, requested

DETECTOR_FILE = "detector.json"
FIT_FILE = "fit.npz"
FORMAT = 1


class Detector:
    """A fitted detector (see the module docstring); use Detector.fit or Detector.load."""

    def __init__(self, model, settings, train, calibration_scores, background=None,
                 ensemble=()):
        self.model = model
        self.settings = dict(settings)
        self.train = train  # (x, labels or None): what the score is fitted on
        self.background, self.ensemble = background, tuple(ensemble)
        self.calibration_scores = np.asarray(calibration_scores, np.float64)
        self.scorer = _scorer(model, settings["score"], background, ensemble)
        self._inputs = None

    # ---------------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, model, train, calibration, score="log_likelihood", tpr=0.95, output=None,
            seed=0, batch_size=256, dequantize=True, background=None, ensemble=(),
            options=None, labels=(None, None)):
        """A detector of `model` with `score` (its output `output`, default the score's
        first) fitted on in-distribution `train` examples and thresholded at `tpr` on the
        held-out in-distribution `calibration` examples."""
        if not 0.0 < tpr < 1.0:
            raise InputError(f"the true-positive rate must be in (0, 1), got {tpr}")
        scorer = _scorer(model, score, background, ensemble)
        outputs = scorer.outputs(model)
        output = output or outputs[0]
        if output not in outputs:
            raise InputError(f"score '{score}' has outputs {outputs}, not '{output}'")
        settings = {"format": FORMAT, "score": score, "output": output, "tpr": float(tpr),
                    "seed": int(seed), "batch_size": int(batch_size),
                    "dequantize": bool(dequantize), "options": dict(options or {})}
        detector = cls(model, settings, (np.asarray(train), labels[0]), [], background,
                       ensemble)
        detector.calibration_scores = detector.score(calibration, labels[1])
        detector.settings["threshold"] = -float(np.quantile(detector.calibration_scores,
                                                            1.0 - tpr))
        detector.settings["n_fit"] = len(train)
        detector.settings["n_calibration"] = len(calibration)
        return detector

    def prepare(self):
        """Fits the score on the detector's training examples (once; `score`, `predict`
        and the SavedModel's detect signature need it)."""
        if self._inputs is None:
            settings = self.settings
            self._inputs = ScoreInputs(
                self.model, {"train": self.train}, settings["batch_size"], settings["seed"],
                settings["dequantize"], self.background, self.ensemble, settings["options"])
            self._inputs.scored_sets = ["test"]
            self.scorer.fit(self._inputs)
        return self._inputs

    # ------------------------------------------------------------------- predicting
    def score(self, examples, labels=None):
        """The glow_prior score of each example (higher = more in-distribution)."""
        examples = np.asarray(examples)
        if len(examples) == 0:
            return np.zeros([0])
        inputs = self.prepare()
        inputs.set_examples("test", examples, labels)
        return self.scorer.values(inputs, "test")[self.settings["output"]]

    @property
    def threshold(self):
        """The outlier-score threshold: is_outlier = -score > threshold."""
        return self.settings["threshold"]

    def predict(self, examples, labels=None):
        """alibi-detect's output: {"data": {"instance_score", "is_outlier"}, "meta"}."""
        instance_score = -self.score(examples, labels)
        return {"data": {"instance_score": instance_score,
                         "is_outlier": instance_score > self.threshold},
                "meta": {"name": f"glow_prior {self.settings['output']}",
                         "detector_type": "outlier", "data_type": "image"
                         if self.model.dtype.name == "uint8" else "tabular",
                         "threshold": self.threshold, "tpr": self.settings["tpr"],
                         "score": self.settings["score"], "output": self.settings["output"],
                         "instance_score": "the negated glow_prior score: higher = more "
                                           "outlying"}}

    # -------------------------------------------------------------------- saving
    def save(self, path, run_logdir=None, companions=None):
        """Writes the detector folder `path` (replacing a previous one atomically).
        run_logdir: the run directory it belongs to (recorded relative to `path`);
        companions: {"background": logdir, "ensemble": [logdirs]} it was fitted with."""
        settings = dict(self.settings)
        if run_logdir is not None:
            settings["run"] = os.path.relpath(os.path.abspath(run_logdir), os.path.abspath(path))
        settings["companions"] = {k: _relative(v, path) for k, v in (companions or {}).items()}
        x, labels = self.train
        arrays = {"train_x": x, "calibration_scores": self.calibration_scores}
        if labels is not None:
            arrays["train_y"] = np.asarray(labels)
        with files.staged_directory(path, overwrite=True, what="save the detector") as staging:
            files.write_json(os.path.join(staging, DETECTOR_FILE), settings)
            np.savez(os.path.join(staging, FIT_FILE), **arrays)
        return path

    @classmethod
    def load(cls, path, model=None, use_polyak=False):
        """The detector saved at `path`, with `model` (default: the model of the run
        directory recorded in it) and the background model / ensemble it was fitted with."""
        settings_path = os.path.join(path, DETECTOR_FILE)
        with files.on_user_path(settings_path, "read the detector"):
            with open(settings_path) as f:
                try:
                    settings = json.load(f)
                except json.JSONDecodeError as error:
                    raise InputError(f"{settings_path} is not a detector file: {error}") \
                        from error
            with np.load(os.path.join(path, FIT_FILE), allow_pickle=False) as archive:
                train = (archive["train_x"], archive["train_y"] if "train_y" in archive.files
                         else None)
                calibration = archive["calibration_scores"]
        if settings.get("format") != FORMAT:
            raise InputError(f"{settings_path} has format {settings.get('format')}; this "
                             f"version reads format {FORMAT}")
        def run(relative):
            return load_model(os.path.normpath(os.path.join(path, relative)),
                              use_polyak=use_polyak)[0]

        model = model or run(settings["run"])
        companions = settings.get("companions", {})
        background = run(companions["background"]) if companions.get("background") else None
        ensemble = tuple(run(d) for d in companions.get("ensemble", ()))
        return cls(model, settings, train, calibration, background, ensemble)


def _relative(value, path):
    if isinstance(value, (list, tuple)):
        return [_relative(v, path) for v in value]
    return os.path.relpath(os.path.abspath(value), os.path.abspath(path)) if value else value


def _scorer(model, score, background, ensemble):
    if score not in SCORES:
        raise InputError(f"unknown score '{score}'; known: {', '.join(SCORES)}")
    return requested(model, [score], background is not None, bool(ensemble))[0]
