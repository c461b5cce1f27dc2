"""Fitted OOD detectors: one score of a trained model with a threshold at a stated
in-distribution true-positive rate.

    detector = Detector.fit(model, train_x, calibration_x, score="typicality", tpr=0.95)
    detector.predict(images)
    # {"data": {"instance_score": [N], "is_outlier": [N]}, "meta": {...}}

`predict` follows alibi-detect's convention: `instance_score` is an outlier score (higher
= more outlying: the negated glow_prior score) and `is_outlier` is instance_score >
threshold. The threshold is the (1 - tpr) quantile of the glow_prior score over
in-distribution calibration examples (held out from training: a run's unused training
images, or half of its test split), so that a fraction `tpr` of in-distribution inputs is
accepted. The score itself is fitted (DoSE's densities, typicality's entropy, the Fisher
information, ...) on training examples, exactly as glow_prior.ood.evaluate fits it.

Saving a detector with the run it belongs to, and loading it back, is
glow_prior.runs.detectors' job; `settings` and `train` are what it saves.
"""
import numpy as np

from glow_prior.errors import InputError
from glow_prior.models.scoring import check_inputs
from glow_prior.ood.base import SCORES, ScoreInputs, requested


class Detector:
    """A fitted detector (see the module docstring); use Detector.fit (or
    glow_prior.runs.detectors.load_detector for a saved one)."""

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
        if len(calibration) == 0:
            raise InputError("a detector needs calibration examples to set its threshold")
        scorer = _scorer(model, score, background, ensemble)
        outputs = scorer.outputs(model)
        output = output or outputs[0]
        if output not in outputs:
            raise InputError(f"score '{score}' has outputs {outputs}, not '{output}'")
        settings = {"score": score, "output": output, "tpr": float(tpr),
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
                self.model, {"train": self.train}, ["test"], settings["batch_size"],
                settings["seed"], settings["dequantize"], self.background, self.ensemble,
                settings["options"])
            self.scorer.fit(self._inputs)
        return self._inputs

    # ------------------------------------------------------------------- predicting
    def score(self, examples, labels=None):
        """The glow_prior score of each example (higher = more in-distribution)."""
        examples = np.asarray(examples)
        if len(examples) == 0:
            return np.zeros([0])
        check_inputs(self.model, examples, labels, "examples")
        inputs = self.prepare()
        inputs.set_examples("test", examples, labels)
        return self.scorer.output_values(inputs, "test", self.settings["output"])

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


def _scorer(model, score, background, ensemble):
    if score not in SCORES:
        raise InputError(f"unknown score '{score}'; known: {', '.join(SCORES)}")
    return requested(model, [score], background is not None, bool(ensemble))[0]
