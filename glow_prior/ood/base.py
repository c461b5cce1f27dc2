"""What an OOD score is, the registry of scores, and the inputs every score reads.

A score is one class (a `Score` subclass registered with `@register`): it declares what it
needs, may fit itself on training-distribution data, and computes per-example values from
the evaluation's precomputed statistics, oriented so that higher = more in-distribution.
Adding a score is adding such a class: `available`, `requested`, their error messages,
evaluate_ood's `--scores=` and the report all read the declarations.

Declarations:

* `name`: the --scores name; `outputs(model)`: the names of the arrays it produces
  (default: [name]; level_k, one per level; typicality adds its batch test);
* `requires`: model capabilities (glow_prior.models.base: IMAGES, COMPONENTS, LEVELS,
  FLOW_TERMS, POSTERIOR);
* `needs`: extra models or inputs beyond the model and the data: "background" (a
  background model, --background_logdir), "ensemble" (3 or more models of the same
  config, --ensemble_logdirs);
* `expensive`: left out of `--scores=default` (per-example optimisation or gradients);
  `--scores=all` includes it;
* `reference`: the paper it comes from.

What every score reads is a `ScoreInputs`: per set ("train", "test", each OOD set,
"reference") the model's statistics (glow_prior.models.base), the raw examples and,
computed on first use and cached, latents, background and ensemble log-likelihoods and
per-example gradients; `fit` sees the training-distribution sets.
"""
import numpy as np

from glow_prior.models import scoring
from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, FLOW_TERMS, IMAGES, LEVELS, POSTERIOR

ORIENTATION = ("every score is oriented so that higher = more in-distribution; "
               "in-distribution is the positive class")
CAPABILITY_TEXT = {IMAGES: "an image model", COMPONENTS: "a mixture prior",
                   LEVELS: "a multi-scale flow with a standard prior", FLOW_TERMS: "a flow",
                   POSTERIOR: "a VAE"}
NEED_TEXT = {"background": "a background model (--background_logdir)",
             "ensemble": "an ensemble of 3 or more runs (--ensemble_logdirs)"}
SCORES = {}  # name -> Score subclass, in registration (report) order


def register(cls):
    """Class decorator: adds a Score subclass to the registry under its name."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in SCORES and SCORES[cls.name] is not cls:
        raise TypeError(f"two scores are named '{cls.name}'")
    SCORES[cls.name] = cls
    return cls


class Score:
    """Base of every OOD score (see the module docstring)."""

    name = ""
    reference = ""
    requires = frozenset()
    needs = frozenset()
    expensive = False

    def outputs(self, model):
        """Names of the per-example arrays this score produces for `model`."""
        del model
        return [self.name]

    def fit(self, inputs):
        """Fits what the score learns from training-distribution data (default: nothing)."""

    def fitted(self):
        """What `fit` learned that a report shows ({name: JSON value}), or {} (default)."""
        return {}

    def compute(self, inputs, set_name):
        """Per-example values for the set (one output), or {output: values}."""
        raise NotImplementedError

    in_graph = False  # graph_values exists: the score can run inside a SavedModel

    def graph_values(self, model, statistics, background=None):
        """{output: tensor} from one batch's statistics tensors (and the background
        model's), with the fitted state as constants (scores with `in_graph`)."""
        raise NotImplementedError

    def check_in_graph(self):
        """Raises InputError unless this score can run inside a SavedModel."""
        if not self.in_graph:
            graph = ", ".join(name for name, cls in SCORES.items() if cls.in_graph)
            raise InputError(f"score '{self.name}' cannot be computed inside a SavedModel; "
                             f"these can: {graph}")

    def values(self, inputs, set_name):
        """{output: float64 array} for the set."""
        result = self.compute(inputs, set_name)
        if not isinstance(result, dict):
            result = {self.name: result}
        return {key: np.asarray(value, np.float64) for key, value in result.items()}

    def output_values(self, inputs, set_name, output):
        """One output's float64 values for the set (what a detector thresholds); scores
        whose other outputs cost more or need more examples compute only this one."""
        return self.values(inputs, set_name)[output]

    @classmethod
    def missing(cls, model, background=False, ensemble=False):
        """What keeps this score from applying (a phrase), or None."""
        for capability in cls.requires:
            if not model.supports(capability):
                return f"needs {CAPABILITY_TEXT[capability]}"
        given = {"background": background, "ensemble": ensemble}
        for need in cls.needs:
            if not given[need]:
                return f"needs {NEED_TEXT[need]}"
        return None


def available(model, background=False, ensemble=False):
    """The registered scores that apply to this model with the given extras, in order."""
    return [name for name, cls in SCORES.items()
            if cls.missing(model, background, ensemble) is None]


def requested(model, which, background=False, ensemble=False):
    """Score instances for --scores=`which`: 'all' (every applicable score), 'default' or
    empty (every applicable score that is not expensive), or names, each of which must
    apply; the refusal names what is missing."""
    supported = available(model, background, ensemble)
    which = tuple(which)
    if which in ((), ("default",)):
        names = [name for name in supported if not SCORES[name].expensive]
    elif which == ("all",):
        names = supported
    else:
        names = []
        for name in which:
            name = _score_of(model, name, supported)
            why = SCORES[name].missing(model, background, ensemble)
            if why:
                raise InputError(f"score '{name}' {why}; this model supports "
                                 f"{', '.join(supported)}")
            if name not in names:
                names.append(name)
    return [SCORES[name]() for name in names]


def _score_of(model, name, supported):
    """The registered score called `name`, or the applicable one producing an output so
    named (e.g. level_1 -> level_k)."""
    if name in SCORES:
        return name
    for score in supported:
        if name in SCORES[score]().outputs(model):
            return score
    raise InputError(f"unknown score '{name}' for this model; known: {', '.join(SCORES)} "
                     "(or 'default', 'all'); this model supports " + ", ".join(supported))


class ScoreInputs:
    """What scores read (see the module docstring).

    model: the evaluated model; sets: {name: (examples, labels or None)} with at least
    "train" ("reference": held-out training-distribution examples, when the run has them);
    scored_sets: the names of the sets scores are computed on, in order (a set's position
    seeds what a score draws for it); batch_size, seed, dequantize: as for
    glow_prior.models.scoring.statistics; background: a background model or None;
    ensemble: models of the same config; options: a dict of score settings (e.g.
    regret_steps)."""

    def __init__(self, model, sets, scored_sets=("test",), batch_size=256, seed=0,
                 dequantize=True, background=None, ensemble=(), options=None):
        self.model = model
        self.sets = dict(sets)
        self.scored_sets = list(scored_sets)
        self.batch_size, self.seed, self.dequantize = batch_size, seed, dequantize
        self.background = background
        self.ensemble = tuple(ensemble)
        self.options = dict(options or {})
        self._cache = {}

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def examples(self, set_name):
        """The examples of a set."""
        return self.sets[set_name][0]

    def labels(self, set_name):
        """The set's labels where the model needs them (class-conditional), else None."""
        return self.sets[set_name][1] if self.model.conditional else None

    def reference_set(self):
        """The training-distribution set typicality's entropy comes from: held-out
        training examples when there are any, else the training examples scored."""
        return "reference" if "reference" in self.sets else "train"

    def statistics_of(self, model, set_name):
        """model.statistics over the set, batched as in glow_prior.models.scoring."""
        return self._cached(("statistics", id(model), set_name), lambda: scoring.statistics(
            model, self.examples(set_name), self.batch_size, self.seed, self.dequantize,
            self.labels(set_name)))

    def statistics(self, set_name):
        """The evaluated model's statistics of a set."""
        return self.statistics_of(self.model, set_name)

    def log_likelihood(self, set_name):
        """The evaluated model's per-example log-likelihoods of a set."""
        return self.statistics(set_name)["log_likelihood"]

    def background_log_likelihood(self, set_name):
        """The background model's per-example log-likelihoods of a set."""
        return self.statistics_of(self.background, set_name)["log_likelihood"]

    def ensemble_log_likelihoods(self, set_name):
        """[K, N] log-likelihoods of the ensemble members."""
        return np.stack([self.statistics_of(member, set_name)["log_likelihood"]
                         for member in self.ensemble])

    def latents(self, set_name):
        """Latents z of the set, with the same dequantisation noise as its statistics."""
        return self._cached(("latents", set_name), lambda: scoring.encode(
            self.model, self.examples(set_name), self.batch_size, self.seed, self.dequantize,
            self.labels(set_name)))

    def set_examples(self, set_name, examples, labels=None):
        """Sets (or replaces) a set's examples, dropping what was computed from the old."""
        self.sets[set_name] = (examples, labels)
        for key in [k for k in self._cache if set_name in k]:
            del self._cache[key]

    def cached(self, key, compute):
        """A value a score computes once per evaluation and shares (e.g. gradients)."""
        return self._cached(("shared",) + tuple(key), compute)
