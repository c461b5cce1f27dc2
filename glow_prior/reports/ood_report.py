"""Writing an OOD evaluation (glow_prior.ood.evaluate.OODResult): ood_report.json and .md,
ood_scores.npz and the figures, all staged in a temporary folder and moved into place only
once everything is written (a failure, e.g. a full disk, leaves the previous report).

ood_report.json keeps the keys reports always had (score, score_convention, units,
dequantization, seed, num_dims, in_distribution, ood_datasets, scores, typicality,
second_order, figures) and adds metric_names, positive_class, costs and references.
"""
import os

import numpy as np

from glow_prior import files
from glow_prior.ood import metrics
from glow_prior.reports import plots
from glow_prior.ood.metrics import METRIC_NAMES, POSITIVE_CLASS
from glow_prior.ood.base import ORIENTATION
from glow_prior.ood.likelihood import TYPICALITY_BATCH_SIZES
from glow_prior.tables import markdown_table

SCORE_CONVENTION = ("in-distribution is the positive class; the score is the per-image "
                    "log-likelihood (higher = more in-distribution)")
UNITS = "nats per example; bits_per_dim = -log_likelihood / (D ln 2)"
CONFIDENCE = metrics.CONFIDENCE
BOOTSTRAP_METHOD = ("percentile bootstrap (scipy.stats.bootstrap), in-distribution and OOD "
                    "test examples resampled separately; every metric's 95% interval as "
                    "[low, high]")


def report_dict(result):
    """The JSON report of an OODResult (figures are added by write_report)."""
    report = {
        "score": SCORE_CONVENTION,
        "score_convention": ORIENTATION,
        "positive_class": POSITIVE_CLASS,
        "metric_names": METRIC_NAMES,
        "units": UNITS,
        "dequantization": "uniform" if result.dequantize else "none",
        "seed": result.seed,
        "num_dims": result.num_dims,
        "in_distribution": {"n_train": result.sets["train"], "n_test": result.sets["test"],
                            "train": result.summary("train"), "test": result.summary("test")},
        "ood_datasets": {},
        "scores": {output: {ood: {**entry, "intervals": result.intervals.get(output, {}).get(ood)}
                            for ood, entry in per_ood.items()}
                   for output, per_ood in result.metrics.items()},
        "bootstrap": {"resamples": result.bootstrap_resamples, "confidence": CONFIDENCE,
                      "method": BOOTSTRAP_METHOD},
        "costs": {"seconds": result.timings},
        "references": {s.name: s.reference for s in result.scorers if s.reference},
    }
    for name in result.ood_names:
        entry = metrics.ood_metrics(result.log_likelihoods["test"],
                                    result.log_likelihoods[name])
        entry["intervals"] = result.intervals.get("log_likelihood", {}).get(name) or \
            metrics.metric_intervals(result.log_likelihoods["test"],
                                     result.log_likelihoods[name],
                                     result.bootstrap_resamples, seed=result.seed)
        test, ood = result.summary("test"), result.summary(name)
        entry.update({"n_ood": result.sets[name],
                      "in_mean_log_likelihood": test["mean_log_likelihood"],
                      "in_mean_log_likelihood_interval": test["mean_log_likelihood_interval"],
                      "ood_mean_log_likelihood": ood["mean_log_likelihood"],
                      "ood_mean_log_likelihood_interval": ood["mean_log_likelihood_interval"],
                      "in_mean_bits_per_dim": test["mean_bits_per_dim"],
                      "ood_mean_bits_per_dim": ood["mean_bits_per_dim"]})
        report["ood_datasets"][name] = entry
    if "typicality" in result.fitted:
        report["typicality"] = {
            **result.fitted["typicality"],
            "batches": {str(size): result.metrics[f"typicality_batch_{size}"]
                        for size in TYPICALITY_BATCH_SIZES}}
    if "second_order" in result.analyses:
        report["second_order"] = result.analyses["second_order"]["summary"]
    return report


def score_arrays(result):
    """ood_scores.npz's arrays: every set's log-likelihoods (key: the set) and every
    output's values (key: output/set)."""
    arrays = dict(result.log_likelihoods)
    arrays.update({f"{output}/{set_name}": values for output, per_set in result.scores.items()
                   for set_name, values in per_set.items()})
    return arrays


def _metric_row(label, entry):
    return [label, *metrics.metric_row(entry, entry.get("intervals"))]


def report_markdown(report, title=""):
    """The markdown report: the log-likelihood's metrics and means per OOD set, then every
    score's metrics per OOD set, then costs."""
    in_distribution = report["in_distribution"]
    lines = [f"# OOD report{': ' + title if title else ''}", "",
             f"Score: {report['score']}. Units: {report['units']}. Dequantization: "
             f"{report['dequantization']} (seed {report['seed']}).", "",
             f"Positive class: {report['positive_class']}", "",
             *([f"Intervals: 95%, {report['bootstrap']['method'].split(';')[0]}, "
                f"{report['bootstrap']['resamples']} resamples.", ""]
               if report.get("bootstrap", {}).get("resamples") else []),
             f"In-distribution: train mean log-likelihood "
             f"{in_distribution['train']['mean_log_likelihood']:.2f}, test "
             f"{in_distribution['test']['mean_log_likelihood']:.2f} "
             f"({in_distribution['test']['mean_bits_per_dim']:.4f} bits/dim).", ""]
    rows = [_metric_row(name, entry) + [entry["in_mean_log_likelihood"],
                                         entry["ood_mean_log_likelihood"],
                                         entry["in_mean_bits_per_dim"],
                                         entry["ood_mean_bits_per_dim"]]
            for name, entry in report["ood_datasets"].items()]
    lines += markdown_table(["OOD set", *metrics.METRIC_HEADER, "in mean LL", "OOD mean LL",
                             "in bits/dim", "OOD bits/dim"], rows)
    for ood in report["ood_datasets"]:
        lines += ["", f"Every score against {ood} ({report['score_convention']}):", ""]
        lines += markdown_table(["score", *metrics.METRIC_HEADER],
                                [_metric_row(name, entries[ood])
                                 for name, entries in report["scores"].items()])
    seconds = report.get("costs", {}).get("seconds", {})
    if seconds:
        lines += ["", "Cost of each score (seconds, fit and every set, on this machine):", ""]
        lines += markdown_table(["score", "seconds"], [[k, v] for k, v in seconds.items()], 1)
    lines += ["", "Figures: " + ", ".join(f"{k} ({v})" for k, v in
                                         report.get("figures", {}).items()), ""]
    return "\n".join(lines)


def draw_figures(result, directory, title):
    """Draws the result's figures into `directory`; returns {name: file name}."""
    figures, data, written = {}, result.figures, {}
    log_likelihoods = data["log_likelihoods"]
    written["log_likelihood_histograms"] = plots.log_likelihood_histograms(
        {f"{'in ' if k in ('train', 'test') else ''}{k}": v for k, v in log_likelihoods.items()},
        os.path.join(directory, "log_likelihood_histograms.png"), title)
    if "roc_curves" in data:
        written["roc_curves"] = plots.roc_curves(
            {ood: {name: curve for name, curve in curves.items()
                   if not name.startswith("typicality_batch_")}
             for ood, curves in data["roc_curves"].items()},
            os.path.join(directory, "roc_curves.png"), title)
    if "latent_histogram" in data:
        coordinate, values = data["latent_histogram"]
        written["latent_histogram"] = plots.latent_histograms(
            values, coordinate, os.path.join(directory, "latent_histogram.png"), title)
    if "component_means" in data:
        means = data["component_means"]
        path = os.path.join(directory, "component_means.png")
        plots.save_image_grid(means, path, columns=len(means))
        written["component_means"] = path
    if "extreme_images" in data:
        rows = {label: entry for pair in data["extreme_images"].values()
                for label, entry in pair.items()}
        written["extreme_images"] = plots.images_with_values(
            rows, os.path.join(directory, "extreme_images.png"),
            f"{title}: the images behind the numbers")
    if "log_likelihood_contours" in data:
        grid_x, grid_y, values, shown = data["log_likelihood_contours"]
        written["log_likelihood_contours"] = plots.log_likelihood_contours(
            grid_x, grid_y, values, shown,
            os.path.join(directory, "log_likelihood_contours.png"), title)
    if "second_order" in result.analyses:
        per_pixel = result.analyses["second_order"]["per_pixel"]
        written["second_order"] = plots.value_histograms(
            {k: v for k, v in per_pixel.items() if "variance" not in k},
            {k: v for k, v in per_pixel.items() if "variance" in k},
            os.path.join(directory, "second_order.png"),
            ("per-pixel mean squared distance to the component's mean image",
             "per-pixel variance"))
    for name, path in written.items():
        figures[name] = os.path.basename(path)
    return figures


def write_report(result, output_dir, title=""):
    """Writes ood_scores.npz, the figures, ood_report.json and ood_report.md into
    output_dir (staged, see the module docstring); returns the report dict. `title`: the
    run's name, shown on figures and in the markdown."""
    report = report_dict(result)
    with files.staged_files(output_dir) as staging:
        np.savez(os.path.join(staging, "ood_scores.npz"), **score_arrays(result))
        report["figures"] = draw_figures(result, staging, title)
        files.write_json(os.path.join(staging, "ood_report.json"), report)
        files.write_text(os.path.join(staging, "ood_report.md"), report_markdown(report, title))
    return report
