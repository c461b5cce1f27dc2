"""Scoring models and evaluating them as out-of-distribution detectors.

Log-likelihoods are per example in nats (OpenAI's convention for flows: including
-D log n_bins) and bits/dim = -log-likelihood / (D ln 2). `evaluate_run` computes the
model's per-example statistics once per set (in-distribution train and test, every OOD set)
and from them every requested OOD score of glow_prior.scores; each score is evaluated with
the same metrics (glow_prior.metrics: AUROC, AUPR in/out, FPR at 95% TPR; in-distribution
is the positive class, higher score = more in-distribution) on the same images.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from glow_prior import data, files, metrics, plots, scores
from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models.base import IMAGES, POSTERIOR
from glow_prior.models.registry import load_model
from glow_prior.objectives import bits_per_dim

SCORE_CONVENTION = ("in-distribution is the positive class; the score is the per-image "
                    "log-likelihood (higher = more in-distribution)")


@dataclasses.dataclass
class Scores:
    log_likelihood: np.ndarray
    bits_per_dim: np.ndarray


def check_inputs(model, x, y=None, what="inputs"):
    """Raises InputError unless `x` fits the model: a non-empty batch of uint8 images of its
    shape (image models) or float vectors of its size, with labels if it needs them."""
    if len(x) == 0:
        raise InputError(f"{what}: there are no examples to score")
    if model.supports(IMAGES):
        preprocess.check_uint8_images(x, model.event_shape, what=what)
    elif tuple(np.shape(x)[1:]) != model.event_shape:
        raise InputError(f"{what} have shape {tuple(np.shape(x)[1:])} per example but the "
                         f"model expects {model.event_shape}")
    if model.conditional and y is None:
        raise InputError(f"this model is class-conditional: {what} need labels 'y'")


def batch_seed(model, seed, start, dequantize=True):
    """The seed the batch starting at example `start` is scored with: for flows of images,
    (seed, start) for its dequantisation noise, or None (no noise) without dequantize;
    other models (the VAE's importance sampling, whose draws are the same for every
    example) get (seed, 0) for every batch."""
    if model.dequantized:
        return tf.constant([seed, start], tf.int64) if dequantize else None
    return tf.constant([seed, 0], tf.int64)


def batched(model, method, x, batch_size, seed=0, dequantize=True, y=None):
    """[model.<method>(batch, seed=..., labels=...) as numpy] over x in batches (compiled
    once per model; seeds as in batch_seed). `y` (labels) is needed only by
    class-conditional models."""
    function = model.compiled(method)
    results = []
    for start in range(0, len(x), batch_size):
        kwargs = {"seed": batch_seed(model, seed, start, dequantize)}
        if y is not None:
            kwargs["labels"] = tf.convert_to_tensor(y[start:start + batch_size])
        value = function(tf.convert_to_tensor(x[start:start + batch_size]), **kwargs)
        results.append(tf.nest.map_structure(np.asarray, value))
    return results


def score(model, x, batch_size, seed=0, dequantize=True, y=None):
    """Per-example log-likelihoods of `x` under `model`, in batches (see batch_seed: the
    same seed and batch size give the same numbers)."""
    parts = batched(model, "log_prob", x, batch_size, seed, dequantize, y)
    log_likelihood = np.concatenate(parts) if parts else np.zeros([0], np.float32)
    return Scores(log_likelihood, bits_per_dim(log_likelihood, model.num_dims))


def statistics(model, x, batch_size, seed=0, dequantize=True, y=None):
    """{statistic: numpy array} of model.statistics over `x`, in batches (seeds as in
    score)."""
    parts = batched(model, "statistics", x, batch_size, seed, dequantize, y)
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def encode(model, x, batch_size, seed=0, dequantize=True, y=None):
    """Latent codes of `x` (flows: z, with noise as in score, or at the bins' centres
    without dequantize; VAEs: posterior means), in batches, as numpy."""
    return np.concatenate(batched(model, "encode", x, batch_size, seed, dequantize, y))


def latent_coordinate(prior, z_ood):
    """The latent coordinate Kamoi et al. plot: for a mixture, the axis along which the
    component means spread most (their 'first idx'); for one component, the coordinate
    whose OOD mean is farthest from zero (their Figures 5 and 19)."""
    means = prior.means.numpy()
    if len(means) > 1:
        return int(np.argmax(means.max(axis=0) - means.min(axis=0)))
    return int(np.argmax(np.abs(z_ood.mean(axis=0))))


def _subset(data, n, seed):
    if not n or n >= len(data.x):
        return data.x, data.y
    index = np.sort(np.random.default_rng(seed).choice(len(data.x), n, replace=False))
    return data.x[index], data.y[index]


def _summary(log_likelihood, num_dims):
    return {"mean_log_likelihood": float(np.mean(log_likelihood)),
            "mean_bits_per_dim": float(np.mean(bits_per_dim(log_likelihood, num_dims)))}


@dataclasses.dataclass
class ScoreOptions:
    """Which OOD scores evaluate_run computes and what they need (glow_prior.scores).

    which: score names, or () / ('all',) for every score the model supports with the
    given extras; reference: training-distribution examples held out from training (an
    ImageSet or VectorSet) for typicality's entropy, or None to use the training examples;
    background: a background model (likelihood ratio); ensemble: models of the same config
    with other seeds (WAIC); regret_steps / regret_lr / regret_batch: likelihood regret."""

    which: tuple = ()
    reference: object = None
    background: object = None
    ensemble: tuple = ()
    regret_steps: int = 100
    regret_lr: float = 1e-4
    regret_batch: int = 100


def evaluate_run(model, train, test, ood_sets, output_dir, batch_size=256, seed=0,
                 dequantize=True, n_eval=0, title="", options=ScoreOptions()):
    """Scores train, test and every OOD set with every requested OOD score; writes
    ood_report.{json,md}, ood_scores.npz and figures. Returns the report dict."""
    names = scores.requested(model, options.which, options.background is not None,
                             bool(options.ensemble))
    conditional = model.conditional
    sets = {"train": _subset(train, n_eval, seed), "test": _subset(test, n_eval, seed + 1)}
    for index, (name, ood) in enumerate(ood_sets.items()):
        sets[name] = _subset(ood, n_eval, seed + 2 + index)

    def stats_of(m, x, y):
        return statistics(m, x, batch_size, seed, dequantize, y if conditional else None)

    stats = {name: stats_of(model, x, y) for name, (x, y) in sets.items()}
    log_likelihoods = {name: value["log_likelihood"] for name, value in stats.items()}
    reference = stats["train"]
    if options.reference is not None and "typicality" in names:
        reference = stats_of(model, *_subset(options.reference, n_eval, seed + 99))
    scored = ["test", *ood_sets]
    inputs = scores.ScoreInputs(statistics=stats, reference=reference, train=stats["train"],
                                examples={name: sets[name][0] for name in scored})
    if "likelihood_ratio" in names:
        inputs.background = {name: stats_of(options.background, *sets[name])["log_likelihood"]
                             for name in scored}
    if "waic" in names:
        inputs.ensemble = {name: np.stack([stats_of(member, *sets[name])["log_likelihood"]
                                           for member in options.ensemble]) for name in scored}
    if "likelihood_regret" in names:
        regret = scores.LikelihoodRegret(model, options.regret_steps, options.regret_lr)
        inputs.regret = {name: regret(sets[name][0], seed, options.regret_batch)
                         for name in scored}
    per_score, entropy = scores.compute(names, inputs, scored)
    report = {
        "score": SCORE_CONVENTION,
        "score_convention": scores.ORIENTATION,
        "units": "nats per example; bits_per_dim = -log_likelihood / (D ln 2)",
        "dequantization": "uniform" if dequantize else "none",
        "seed": seed,
        "num_dims": model.num_dims,
        "in_distribution": {"n_train": len(log_likelihoods["train"]),
                            "n_test": len(log_likelihoods["test"]),
                            "train": _summary(log_likelihoods["train"], model.num_dims),
                            "test": _summary(log_likelihoods["test"], model.num_dims)},
        "ood_datasets": {},
        "scores": {name: {ood: metrics.ood_metrics(values["test"], values[ood])
                          for ood in ood_sets} for name, values in per_score.items()},
    }
    for name in ood_sets:
        entry = metrics.ood_metrics(log_likelihoods["test"], log_likelihoods[name])
        test_summary, ood_summary = (_summary(log_likelihoods[k], model.num_dims)
                                     for k in ("test", name))
        entry.update({"n_ood": len(log_likelihoods[name]),
                      "in_mean_log_likelihood": test_summary["mean_log_likelihood"],
                      "ood_mean_log_likelihood": ood_summary["mean_log_likelihood"],
                      "in_mean_bits_per_dim": test_summary["mean_bits_per_dim"],
                      "ood_mean_bits_per_dim": ood_summary["mean_bits_per_dim"]})
        report["ood_datasets"][name] = entry
    arrays = dict(log_likelihoods)
    arrays.update({f"{name}/{set_name}": value for name, values in per_score.items()
                   for set_name, value in values.items()})
    if "typicality" in names:
        report["typicality"] = _typicality_batch_test(
            log_likelihoods, entropy, ood_sets, seed, arrays,
            "held-out training examples" if options.reference is not None
            else "the training examples scored")
    os.makedirs(output_dir, exist_ok=True)
    files.write_npz(os.path.join(output_dir, "ood_scores.npz"), **arrays)
    figures = {"log_likelihood_histograms": plots.log_likelihood_histograms(
        {f"{'in ' if k in ('train', 'test') else ''}{k}": v for k, v in log_likelihoods.items()},
        os.path.join(output_dir, "log_likelihood_histograms.png"), title)}
    if ood_sets:
        figures["roc_curves"] = plots.roc_curves(
            {ood: {name: metrics.roc_curve(values["test"], values[ood])
                   for name, values in per_score.items()} for ood in ood_sets},
            os.path.join(output_dir, "roc_curves.png"), title)
    figures.update(_latent_figures(model, sets, ood_sets, output_dir, batch_size, seed,
                                   dequantize, title))
    if model.supports(POSTERIOR) and ood_sets:
        name = next(iter(ood_sets))
        report["second_order"], figures["second_order"] = second_order_analysis(
            model, sets["test"][0], sets[name][0], name, output_dir, batch_size, seed)
    report["figures"] = {k: os.path.basename(v) for k, v in figures.items()}
    files.write_json(os.path.join(output_dir, "ood_report.json"), report)
    files.write_text(os.path.join(output_dir, "ood_report.md"), report_markdown(report, title))
    return report


def _typicality_batch_test(log_likelihoods, entropy, ood_sets, seed, arrays, reference):
    """Nalisnick et al.'s batch test for M in scores.TYPICALITY_BATCH_SIZES: AUROC etc. over
    batches drawn without replacement (seeded); per-batch scores go into `arrays`."""
    result = {"entropy_nats": entropy, "reference": reference, "batches": {}}
    for size in scores.TYPICALITY_BATCH_SIZES:
        batch_scores = {name: scores.typicality_batches(log_likelihoods[name], entropy, size,
                                                        [seed, size, index])
                        for index, name in enumerate(["test", *ood_sets])}
        for name, value in batch_scores.items():
            arrays[f"typicality_batch_{size}/{name}"] = value
        result["batches"][str(size)] = {
            ood: metrics.ood_metrics(batch_scores["test"], batch_scores[ood])
            for ood in ood_sets}
    return result


def _latent_figures(model, sets, ood_sets, output_dir, batch_size, seed, dequantize, title):
    figures = {}
    if model.conditional:
        return figures
    codes = {name: encode(model, sets[name][0], batch_size, seed, dequantize)
             for name in ["test", *ood_sets]}
    if ood_sets:
        coordinate = latent_coordinate(model.prior, codes[next(iter(ood_sets))])
        figures["latent_histogram"] = plots.latent_histograms(
            {("in test" if k == "test" else k): v[:, coordinate] for k, v in codes.items()},
            coordinate, os.path.join(output_dir, "latent_histogram.png"), title)
    if model.supports(IMAGES):
        path = os.path.join(output_dir, "component_means.png")
        means = model.decode(model.prior.means).numpy()
        plots.save_image_grid(means, path, columns=len(means))
        figures["component_means"] = path
    if model.event_shape == (2,):
        figures["log_likelihood_contours"] = _contours(model, sets, ood_sets, output_dir, title)
    return figures


def second_order_analysis(model, in_x, ood_x, ood_name, output_dir, batch_size, seed=0):
    """Kamoi et al.'s Figure 7 for a VAE, pixels scaled to [0, 1].

    The mean image of component k is the decoded component mean; each image is allocated
    to the component nearest its posterior mean. Per pixel: the mean squared distance of the
    allocated images to their component's mean image (in-distribution and OOD), and the
    variance of each set. Returns (summary of per-pixel means, figure path).
    """
    means = model.prior.means.numpy()
    mean_images = model.decode(means).numpy().astype(np.float64) / 255.0
    per_pixel, summary = {}, {}
    for label, x in (("in", in_x), (ood_name, ood_x)):
        codes = encode(model, x, batch_size, seed)
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
    path = plots.value_histograms(
        {k: v for k, v in per_pixel.items() if "variance" not in k},
        {k: v for k, v in per_pixel.items() if "variance" in k},
        os.path.join(output_dir, "second_order.png"),
        ("per-pixel mean squared distance to the component's mean image",
         "per-pixel variance"))
    return summary, os.path.basename(path)


def _contours(model, sets, ood_sets, output_dir, title):
    points = np.concatenate([sets[k][0] for k in ("train", *ood_sets)])
    low, high = points.min(axis=0) - 1.0, points.max(axis=0) + 1.0
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], 200),
                                 np.linspace(low[1], high[1], 200))
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    values = model.log_likelihood(grid).numpy().reshape(grid_x.shape)
    shown = {"train": sets["train"][0][:2000],
             **{name: sets[name][0][:2000] for name in ood_sets}}
    return plots.log_likelihood_contours(grid_x, grid_y, values, shown,
                                         os.path.join(output_dir, "log_likelihood_contours.png"),
                                         title)


def _scores_markdown(report):
    ood_names = list(report["ood_datasets"])
    lines = ["", f"AUROC of every score ({report.get('score_convention', '')}):", "",
             "| score | " + " | ".join(ood_names) + " |",
             "|---|" + "---|" * len(ood_names)]
    for name, entries in report.get("scores", {}).items():
        lines.append(f"| {name} | " + " | ".join(f"{entries[ood]['auroc']:.4f}"
                                                for ood in ood_names) + " |")
    for size, entries in report.get("typicality", {}).get("batches", {}).items():
        lines.append(f"| typicality, batches of {size} | " + " | ".join(
            f"{entries[ood]['auroc']:.4f}" for ood in ood_names) + " |")
    return lines


def report_markdown(report, title=""):
    lines = [f"# OOD report{': ' + title if title else ''}", "",
             f"Score: {report['score']}. Units: {report['units']}. Dequantization: "
             f"{report['dequantization']} (seed {report['seed']}).", "",
             f"In-distribution: train mean log-likelihood "
             f"{report['in_distribution']['train']['mean_log_likelihood']:.2f}, test "
             f"{report['in_distribution']['test']['mean_log_likelihood']:.2f} "
             f"({report['in_distribution']['test']['mean_bits_per_dim']:.4f} bits/dim).", "",
             "| OOD set | AUROC | AUPR in | AUPR out | FPR@95%TPR | in mean LL | OOD mean LL |"
             " in bits/dim | OOD bits/dim |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, entry in report["ood_datasets"].items():
        lines.append(f"| {name} | {entry['auroc']:.4f} | {entry['aupr_in']:.4f} | "
                     f"{entry['aupr_out']:.4f} | {entry['fpr_at_95_tpr']:.4f} | "
                     f"{entry['in_mean_log_likelihood']:.2f} | "
                     f"{entry['ood_mean_log_likelihood']:.2f} | "
                     f"{entry['in_mean_bits_per_dim']:.4f} | "
                     f"{entry['ood_mean_bits_per_dim']:.4f} |")
    if report.get("scores") and report["ood_datasets"]:
        lines += _scores_markdown(report)
    lines += ["", "Figures: " + ", ".join(f"{k} ({v})" for k, v in
                                         report.get("figures", {}).items()), ""]
    return "\n".join(lines)


def _companion(logdir, spec, what, use_polyak):
    """A model for another run of the same architecture (background model, ensemble
    member); its seed may differ, nothing else of the architecture."""
    model, other = load_model(logdir, use_polyak=use_polyak)
    if other.model != spec.model or \
            other.architecture.replace(seed=0) != spec.architecture.replace(seed=0):
        raise InputError(f"{what} {logdir} is a {other.model} of another architecture than "
                         f"the evaluated run; it must share the architecture")
    return model


def evaluate_logdir(options):
    """evaluate_ood's work for its options (glow_prior.apps.evaluate_ood.EvaluateOptions)."""
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    if options.importance_samples and hasattr(model, "importance_samples"):
        model.importance_samples = options.importance_samples
    train, test, ood_sets = data.evaluation_sets(spec, options.ood_datasets,
                                                 options.data_dir, options.dataset)
    score_options = ScoreOptions(
        which=tuple(options.scores),
        reference=data.held_out_training(spec.data) if spec.data_kind == "images" else None,
        background=_companion(options.background_logdir, spec, "--background_logdir",
                              options.use_polyak) if options.background_logdir else None,
        ensemble=tuple(_companion(d, spec, "ensemble member", options.use_polyak)
                       for d in options.ensemble_logdirs),
        regret_steps=options.regret_steps, regret_lr=options.regret_lr)
    return evaluate_run(model, train, test, ood_sets, options.output_dir or options.logdir,
                        options.batch_size, options.seed, options.dequantization == "uniform",
                        options.n_eval, options.logdir, score_options)
