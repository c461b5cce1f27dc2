"""Evaluating a run's model as an OOD detector on the run's own data: what evaluate_ood
does (glow_prior.ood.evaluate computes, glow_prior.reports.ood_report writes)."""
import os

from glow_prior import data
from glow_prior.errors import InputError
from glow_prior.ood.evaluate import ScoreOptions, evaluate_run
from glow_prior.reports.ood_report import write_report
from glow_prior.runs.load import load_model


def companion_model(logdir, spec, what, use_polyak):
    """A model for another run of the same architecture (background model, ensemble
    member); its seed may differ, nothing else of the architecture."""
    model, other = load_model(logdir, use_polyak=use_polyak)
    if other.model != spec.model or \
            other.architecture.replace(seed=0) != spec.architecture.replace(seed=0):
        raise InputError(f"{what} {logdir} is a {other.model} of another architecture than "
                         f"the evaluated run; it must share the architecture")
    return model


def evaluate_logdir(options):
    """The OOD evaluation of a run for evaluate_ood's options (a
    glow_prior.config.evaluation.EvaluateOptions): (OODResult, the run's spec)."""
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak,
                             checkpoint=options.checkpoint)
    if options.importance_samples and hasattr(model, "importance_samples"):
        model.importance_samples = options.importance_samples
    train, test, ood_sets = data.evaluation_sets(spec, options.ood_datasets,
                                                 options.data_dir, options.dataset)
    score_options = ScoreOptions(
        which=tuple(options.scores),
        reference=data.held_out_training(spec.data) if spec.data_kind == "images" else None,
        background=companion_model(options.background_logdir, spec, "--background_logdir",
                                   options.use_polyak) if options.background_logdir else None,
        ensemble=tuple(companion_model(d, spec, "ensemble member", options.use_polyak)
                       for d in options.ensemble_logdirs),
        regret_steps=options.regret_steps, regret_lr=options.regret_lr,
        bootstrap_resamples=options.bootstrap_resamples)
    result = evaluate_run(model, train, test, ood_sets, options.batch_size, options.seed,
                          options.dequantization == "uniform", options.n_eval, score_options)
    return result, spec


def run_name(logdir):
    """A run's name for titles: its directory's name (not the absolute path)."""
    return os.path.basename(os.path.normpath(logdir))


def evaluate_and_report(options):
    """Evaluates the run (evaluate_logdir) and writes the report into options.output_dir
    (default: the run directory); returns the report dict."""
    result, _ = evaluate_logdir(options)
    return write_report(result, options.output_dir or options.logdir, run_name(options.logdir))
