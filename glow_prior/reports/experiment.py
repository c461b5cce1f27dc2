"""An experiment's report: every run's ood_report.json summarised into OUTPUT_DIR/report.json,
report.md and figures, and a seed study's mean and standard deviation (seeds_report)."""
import json
import os
import shlex

import numpy as np

from glow_prior import files
from glow_prior.reports import plots
from glow_prior.ood.metrics import with_interval
from glow_prior.tables import markdown_table


def _run_result(report, ood_name):
    entry = report["ood_datasets"][ood_name]
    return {"in_mean_log_likelihood": entry["in_mean_log_likelihood"],
            "in_mean_log_likelihood_interval": entry.get("in_mean_log_likelihood_interval"),
            "ood_mean_log_likelihood": entry["ood_mean_log_likelihood"],
            "ood_mean_log_likelihood_interval": entry.get("ood_mean_log_likelihood_interval"),
            "ood_mean_nll": -entry["ood_mean_log_likelihood"],
            "in_mean_bits_per_dim": entry["in_mean_bits_per_dim"],
            "ood_mean_bits_per_dim": entry["ood_mean_bits_per_dim"],
            "auroc": entry["auroc"], "aupr_in": entry["aupr_in"],
            "aupr_out": entry["aupr_out"], "fpr_at_95_tpr": entry["fpr_at_95_tpr"],
            "intervals": entry.get("intervals")}


def _auroc_cell(result, digits=3):
    """AUROC with its 95% interval, where the report has one."""
    interval = (result.get("intervals") or {}).get("auroc")
    return with_interval(result["auroc"], interval, digits) if interval else result["auroc"]


def summarize(experiment, output_dir, config, commands):
    """Writes report.json, report.md and the experiment's figures from the runs' reports."""
    results, figures, scores = {}, {}, {}
    for run in experiment.evaluated:
        run_dir = os.path.join(output_dir, run.name)
        with open(os.path.join(run_dir, "ood_report.json")) as f:
            report = json.load(f)
        results[run.name] = _run_result(report, run.ood[0])
        if experiment.score_table:
            results[run.name]["scores"] = report["scores"]
            results[run.name]["costs"] = report.get("costs", {})
        if len(run.ood) > 1:
            results[run.name]["per_ood"] = {name: _run_result(report, name) for name in run.ood}
        with np.load(os.path.join(run_dir, "ood_scores.npz")) as archive:
            scores[run.name] = {"in test": archive["test"],
                                **{name: archive[name] for name in run.ood}}
        for key, figure in report.get("figures", {}).items():
            figures[f"{run.name}/{key}"] = os.path.join(run.name, figure)
    figures["log_likelihood_histograms"] = os.path.basename(plots.histogram_panels(
        scores, os.path.join(output_dir, "log_likelihood_histograms.png"), experiment.name))
    if experiment.sweep:
        series = {}
        for run_name, (label, x) in experiment.sweep.items():
            series.setdefault(label, ([], []))
            series[label][0].append(x)
            series[label][1].append(results[run_name]["ood_mean_log_likelihood"])
        figures["sweep"] = os.path.basename(plots.line_plot(
            series, os.path.join(output_dir, "sweep.png"), experiment.sweep_axis,
            "OOD mean log-likelihood (nats)", experiment.name))
    payload = {"experiment": experiment.name, "description": experiment.description,
               "config": config, "results": results, "paper": experiment.paper,
               "figures": figures, "commands": commands}
    files.write_json(os.path.join(output_dir, "report.json"), payload)
    files.write_text(os.path.join(output_dir, "report.md"), markdown(payload))
    return payload


def _score_table(payload):
    """AUROC of every score output of every run, one column per OOD set."""
    runs = {name: result for name, result in payload["results"].items() if "scores" in result}
    if not runs:
        return []
    ood_names = list(next(iter(next(iter(runs.values()))["scores"].values())))
    rows = [[name, score, *(_auroc_cell(entries[ood]) for ood in ood_names)]
            for name, result in runs.items() for score, entries in result["scores"].items()]
    return ["", "AUROC of every score (higher score = more in-distribution; "
            "in-distribution is the positive class):", "",
            *markdown_table(["model", "score", *ood_names], rows, digits=3)]


def markdown(payload):
    """The experiment's report.md from its report.json payload."""
    lines = [f"# {payload['experiment']} ({payload['config']} config)", "",
             payload["description"], "",
             "Log-likelihoods in nats per example (image flows: OpenAI's convention, "
             "including -D ln 256); AUROC with in-distribution as the positive class and "
             "log-likelihood as the score, with its 95% bootstrap interval [low, high] "
             "(in-distribution and OOD test examples resampled separately).", ""]
    rows = []
    for name, result in payload["results"].items():
        paper = payload["paper"].get(name, {})
        rows.append([name, *_log_likelihood_cells(result), _auroc_cell(result, 4),
                     ", ".join(f"{k} {v}" for k, v in paper.items()) or None])
    for name, result in payload["results"].items():
        for ood, entry in result.get("per_ood", {}).items():
            rows.append([f"{name} vs {ood}", *_log_likelihood_cells(entry),
                         _auroc_cell(entry, 4), None])
    lines += markdown_table(["run", "in mean LL", "OOD mean LL", "OOD mean NLL", "AUROC",
                             "paper"], rows)
    lines += _score_table(payload)
    lines += ["", "Figures:", *[f"- {k}: {v}" for k, v in payload["figures"].items()],
              "", "Commands:", "", "```"]
    lines += [shlex.join(command) for command in payload["commands"]]
    lines += ["```", ""]
    return "\n".join(lines)


def _log_likelihood_cells(result):
    """In and OOD mean log-likelihood (each with its 95% interval, where the report has
    one) and the OOD mean NLL, two decimals."""
    return [with_interval(result[key], result.get(f"{key}_interval"), 2)
            if result.get(f"{key}_interval") else f"{result[key]:.2f}"
            for key in ("in_mean_log_likelihood", "ood_mean_log_likelihood")] + \
        [f"{result['ood_mean_nll']:.2f}"]


SEED_KEYS = ("in_mean_log_likelihood", "ood_mean_log_likelihood", "ood_mean_nll", "auroc")


def seed_summary(name, payloads):
    """Mean and standard deviation (ddof 1) over seeds of each run's headline numbers:
    {run: {key: {"mean", "std", "values"}}} from {seed: report payload}."""
    runs = next(iter(payloads.values()))["results"]
    summary = {}
    for run in runs:
        summary[run] = {}
        for key in SEED_KEYS:
            values = [payload["results"][run][key] for payload in payloads.values()]
            summary[run][key] = {"mean": float(np.mean(values)),
                                 "std": float(np.std(values, ddof=1)) if len(values) > 1
                                 else 0.0, "values": values}
    return {"experiment": name, "seeds": list(payloads), "summary": summary,
            "paper": next(iter(payloads.values())).get("paper", {})}


def seed_markdown(report):
    """The seed study's seeds_report.md from seed_summary's report."""
    lines = [f"# {report['experiment']}: mean +- standard deviation (ddof 1) over seeds "
             f"{', '.join(map(str, report['seeds']))}, and each seed's AUROC", ""]
    rows = []
    for run, values in report["summary"].items():
        cells = [f"{values[k]['mean']:.2f} +- {values[k]['std']:.2f}" for k in SEED_KEYS[:3]]
        cells.append(f"{values['auroc']['mean']:.3f} +- {values['auroc']['std']:.3f}")
        cells.append(", ".join(f"{value:.3f}" for value in values["auroc"]["values"]))
        paper = ", ".join(f"{k} {v}" for k, v in report["paper"].get(run, {}).items())
        rows.append([run, *cells, paper or None])
    lines += markdown_table(["run", "in mean LL", "OOD mean LL", "OOD mean NLL", "AUROC",
                             "AUROC per seed", "paper"], rows)
    return "\n".join(lines + [""])
