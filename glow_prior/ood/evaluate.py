"""Evaluating a model as an OOD detector: every requested score on the same sets, metrics,
and the data behind the figures, returned as an `OODResult` (writing it is
glow_prior.reports.ood_report's job).

The model's per-example statistics are computed once per set (in-distribution train and
test, every OOD set, and held-out training examples where the run has them); each score
(glow_prior.ood.base) reads them, and every score is evaluated with the same metrics
(glow_prior.ood.metrics: AUROC, AUPR_IN, AUPR_OUT, FPR@95 with OOD positive as OpenOOD, and
FPR at 95% TPR with in-distribution positive) on the same examples.
"""
import dataclasses
import time

import numpy as np

from glow_prior.models import scoring
from glow_prior.ood import metrics
from glow_prior.errors import InputError
from glow_prior.models.base import IMAGES, POSTERIOR
from glow_prior.models.scoring import bits_per_dim
from glow_prior.ood import base
from glow_prior.tables import markdown_table

GRID_IMAGES = 16  # images per row of the "images behind the numbers" figure


@dataclasses.dataclass
class ScoreOptions:
    """Which OOD scores evaluate_run computes and what they need.

    which: score names, 'default' or 'all' (glow_prior.ood.base.requested); reference:
    training-distribution examples held out from training (an ImageSet or VectorSet) for
    typicality's entropy, or None to use the training examples; background: a background
    model (likelihood ratio); ensemble: models of the same config with other seeds (WAIC);
    regret_steps / regret_lr: likelihood regret; bootstrap_resamples: resamples of every
    metric's 95% confidence interval (glow_prior.ood.metrics; 0: none)."""

    which: tuple = ()
    reference: object = None
    background: object = None
    ensemble: tuple = ()
    regret_steps: int = 100
    regret_lr: float = 1e-4
    bootstrap_resamples: int = metrics.BOOTSTRAP_RESAMPLES


@dataclasses.dataclass
class OODResult:
    """What one evaluation computed.

    sets: {name: number of examples}; ood_names: the OOD sets in order; log_likelihoods:
    {set: per-example log-likelihood}; scores: {output: {set: values}} for the scored sets
    (test and OOD); metrics: {output: {OOD set: metrics}}; scorers: the Score instances
    (in report order) and `timings` their cost in seconds; fitted: {score: what its fit
    learned} for the scores that report it (typicality's entropy); intervals: {output: {OOD
    set: {metric: [low, high]}}}, 95% bootstrap intervals of `metrics` from
    `bootstrap_resamples` resamples; figures: {name: data} for the report's figures
    (glow_prior.reports.ood_report)."""

    num_dims: int
    seed: int
    dequantize: bool
    images: bool
    sets: dict
    ood_names: list
    log_likelihoods: dict
    scores: dict
    metrics: dict
    scorers: list
    timings: dict
    fitted: dict = dataclasses.field(default_factory=dict)
    intervals: dict = dataclasses.field(default_factory=dict)
    bootstrap_resamples: int = 0
    figures: dict = dataclasses.field(default_factory=dict)
    analyses: dict = dataclasses.field(default_factory=dict)

    def summary(self, set_name):
        """The set's mean log-likelihood (with its 95% bootstrap interval) and mean
        bits/dim."""
        values = self.log_likelihoods[set_name]
        return {"mean_log_likelihood": float(np.mean(values)),
                "mean_log_likelihood_interval": metrics.mean_interval(
                    values, self.bootstrap_resamples, seed=self.seed),
                "mean_bits_per_dim": float(np.mean(bits_per_dim(values, self.num_dims)))}

    def auroc(self, output="log_likelihood", ood=None):
        """AUROC of one score output against an OOD set (default: the first)."""
        return self.metrics[output][ood or self.ood_names[0]]["auroc"]

    def interval(self, output="log_likelihood", ood=None, metric="auroc"):
        """[low, high]: the 95% bootstrap interval of a metric (default AUROC) of one score
        output against an OOD set (default: the first)."""
        return self.intervals[output][ood or self.ood_names[0]][metric]

    def table(self, ood=None):
        """Markdown: every score output's AUROC, AUPR_IN, AUPR_OUT and both FPR@95
        conventions, each with its 95% interval, against one OOD set (default: each in
        turn)."""
        lines = []
        for name in [ood] if ood else self.ood_names:
            lines += ["", f"Against {name} ({base.ORIENTATION}):", ""]
            lines += markdown_table(["score", *metrics.METRIC_HEADER],
                                    [[output, *metrics.metric_row(
                                        entries[name], self.intervals.get(output, {}).get(name))]
                                     for output, entries in self.metrics.items()])
        return "\n".join(lines).strip("\n")

    def best_score(self, ood_name):
        """The output with the highest AUROC against `ood_name` (per-example outputs)."""
        per_example = {name: entries[ood_name]["auroc"] for name, entries in self.metrics.items()
                       if len(self.scores[name]["test"]) == self.sets["test"]}
        return max(per_example, key=per_example.get)


def subset(examples, n, seed):
    """(x, y) of at most n examples of an ImageSet/VectorSet, a seeded sorted subset."""
    if not n or n >= len(examples.x):
        return examples.x, examples.y
    index = np.sort(np.random.default_rng(seed).choice(len(examples.x), n, replace=False))
    return examples.x[index], examples.y[index]


def evaluate_run(model, train, test, ood_sets, batch_size=256, seed=0, dequantize=True,
                 n_eval=0, options=ScoreOptions()):
    """Scores train, test and every OOD set with every requested OOD score; returns an
    OODResult."""
    scorers = base.requested(model, options.which, options.background is not None,
                             bool(options.ensemble))
    sets = {"train": subset(train, n_eval, seed), "test": subset(test, n_eval, seed + 1)}
    for index, (name, ood) in enumerate(ood_sets.items()):
        sets[name] = subset(ood, n_eval, seed + 2 + index)
    if options.reference is not None:
        sets["reference"] = subset(options.reference, n_eval, seed + 99)
    inputs = base.ScoreInputs(model, sets, ["test", *ood_sets], batch_size, seed, dequantize,
                              options.background, options.ensemble,
                              {"regret_steps": options.regret_steps,
                               "regret_lr": options.regret_lr})
    log_likelihoods = {name: inputs.log_likelihood(name) for name in
                       ("train", "test", *ood_sets)}
    values, timings = {}, {}
    for scorer in scorers:
        started = time.perf_counter()
        scorer.fit(inputs)
        for set_name in inputs.scored_sets:
            for output, array in scorer.values(inputs, set_name).items():
                values.setdefault(output, {})[set_name] = array
        timings[scorer.name] = time.perf_counter() - started
    result = OODResult(
        num_dims=model.num_dims, seed=seed, dequantize=dequantize,
        images=model.supports(IMAGES), sets={name: len(x) for name, (x, _) in sets.items()},
        ood_names=list(ood_sets), log_likelihoods=log_likelihoods, scores=values,
        metrics={output: {ood: metrics.ood_metrics(per_set["test"], per_set[ood])
                          for ood in ood_sets} for output, per_set in values.items()},
        scorers=scorers, timings=timings,
        fitted={s.name: s.fitted() for s in scorers if s.fitted()},
        intervals={output: {ood: metrics.metric_intervals(
            per_set["test"], per_set[ood], options.bootstrap_resamples, seed=seed)
            for ood in ood_sets} for output, per_set in values.items()},
        bootstrap_resamples=options.bootstrap_resamples)
    result.figures = figure_data(model, inputs, result)
    if model.supports(POSTERIOR) and ood_sets:
        result.analyses["second_order"] = second_order_analysis(
            model, sets["test"][0], sets[result.ood_names[0]][0], result.ood_names[0],
            batch_size, seed)
    return result


@dataclasses.dataclass
class Examples:
    """Examples and their labels (None where there are none) for evaluate_run."""

    x: np.ndarray
    y: np.ndarray = None

    def __post_init__(self):
        self.x = np.asarray(self.x)
        if self.y is None:
            self.y = np.zeros(len(self.x), np.int64)


def evaluate_arrays(model, in_distribution, ood, scores=("default",), train=None, seed=0,
                    batch_size=256, dequantize=True, background=None, ensemble=(),
                    reference=None, bootstrap_resamples=metrics.BOOTSTRAP_RESAMPLES):
    """OOD evaluation of arrays: in-distribution test examples, OOD examples (an array, or
    {name: array}); `train`: training-distribution examples for the scores that fit on
    them (typicality's entropy, DoSE, the gradient scores), by default the first half of
    a seeded permutation of `in_distribution` (the rest is then the test set). Labels,
    for class-conditional models, as (x, y) pairs. Returns an OODResult."""
    ood = ood if isinstance(ood, dict) else {"ood": ood}

    def examples(value):
        return Examples(*value) if isinstance(value, tuple) else Examples(value)

    test = examples(in_distribution)
    if train is None:
        order = np.random.default_rng([seed, 5]).permutation(len(test.x))
        half = np.sort(order[:len(order) // 2]), np.sort(order[len(order) // 2:])
        train, test = (Examples(test.x[i], test.y[i]) for i in half)
    else:
        train = examples(train)
    options = ScoreOptions(which=tuple(scores), background=background,
                           ensemble=tuple(ensemble),
                           reference=None if reference is None else examples(reference),
                           bootstrap_resamples=bootstrap_resamples)
    return evaluate_run(model, train, test, {k: examples(v) for k, v in ood.items()},
                        batch_size, seed, dequantize, options=options)


def figure_data(model, inputs, result):
    """The arrays behind the report's figures (glow_prior.reports.ood_report draws them)."""
    figures = {"log_likelihoods": result.log_likelihoods}
    if result.ood_names:
        figures["roc_curves"] = {ood: {name: metrics.roc_curve(per_set["test"], per_set[ood])
                                       for name, per_set in result.scores.items()}
                                 for ood in result.ood_names}
    if not model.conditional and result.ood_names:
        codes = {name: inputs.latents(name) for name in inputs.scored_sets}
        coordinate = latent_coordinate(model.prior, codes[result.ood_names[0]])
        figures["latent_histogram"] = (coordinate, {
            ("in test" if k == "test" else k): v[:, coordinate] for k, v in codes.items()})
    if model.supports(IMAGES):
        figures["component_means"] = model.decode(model.prior.means).numpy()
        figures["extreme_images"] = extreme_images(inputs, result)
    if model.example_shape == (2,):
        figures["log_likelihood_contours"] = contour_data(model, inputs.sets, result.ood_names)
    return figures


def extreme_images(inputs, result):
    """Per OOD set, for the log-likelihood and the set's best score: the OOD images the
    score finds most in-distribution and the in-distribution images it finds least so
    (the images behind an AUROC), with their values."""
    chosen = {}
    for ood in result.ood_names:
        for name in dict.fromkeys(["log_likelihood", result.best_score(ood)]):
            test, other = result.scores[name]["test"], result.scores[name][ood]
            most_likely_ood = np.argsort(-other)[:GRID_IMAGES]
            least_likely_in = np.argsort(test)[:GRID_IMAGES]
            chosen[(ood, name)] = {
                f"{ood}, highest {name}": (inputs.examples(ood)[most_likely_ood],
                                          other[most_likely_ood]),
                f"in-distribution, lowest {name}": (inputs.examples("test")[least_likely_in],
                                                    test[least_likely_in])}
    return chosen


def latent_coordinate(prior, z_ood):
    """The latent coordinate Kamoi et al. plot: for a mixture, the axis along which the
    component means spread most (their 'first idx'); for one component, the coordinate
    whose OOD mean is farthest from zero (their Figures 5 and 19)."""
    means = prior.means.numpy()
    if len(means) > 1:
        return int(np.argmax(means.max(axis=0) - means.min(axis=0)))
    return int(np.argmax(np.abs(z_ood.mean(axis=0))))


def contour_data(model, sets, ood_names):
    """A 200 x 200 grid of log-likelihoods over the 2-D data, and the points to overlay."""
    points = np.concatenate([sets[k][0] for k in ("train", *ood_names)])
    low, high = points.min(axis=0) - 1.0, points.max(axis=0) + 1.0
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], 200),
                                 np.linspace(low[1], high[1], 200))
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    values = model.log_likelihood(grid).numpy().reshape(grid_x.shape)
    shown = {name: sets[name][0][:2000] for name in ("train", *ood_names)}
    return grid_x, grid_y, values, shown


def second_order_analysis(model, in_x, ood_x, ood_name, batch_size, seed=0):
    """Kamoi et al.'s Figure 7 for a VAE, pixels scaled to [0, 1].

    The mean image of component k is the decoded component mean; each image is allocated
    to the component nearest its posterior mean. Per pixel: the mean squared distance of the
    allocated images to their component's mean image (in-distribution and OOD), and the
    variance of each set. Returns {"summary": per-pixel means, "per_pixel": arrays}.
    """
    means = model.prior.means.numpy()
    mean_images = model.decode(means).numpy().astype(np.float64) / 255.0
    per_pixel, summary = {}, {}
    for label, x in (("in", in_x), (ood_name, ood_x)):
        codes = scoring.encode(model, x, batch_size, seed)
        nearest = np.argmin(((codes[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
        pixels = x.astype(np.float64) / 255.0
        for k in np.unique(nearest):
            distance = ((pixels[nearest == k] - mean_images[k]) ** 2).mean(axis=0).ravel()
            per_pixel[f"{label} -> component {k}"] = distance
            summary[f"{label}_component{k}_mean_squared_distance"] = float(distance.mean())
            summary[f"{label}_component{k}_count"] = int((nearest == k).sum())
        variance = pixels.var(axis=0).ravel()
        per_pixel[f"{label} variance"] = variance
        summary[f"{label}_mean_pixel_variance"] = float(variance.mean())
    return {"summary": summary, "per_pixel": per_pixel}
