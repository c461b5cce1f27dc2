"""Reproducing an experiment: train every run, evaluate, summarise (the reproduce binary).

Each command runs in its own process (glow_prior.experiments.executor), several at once
with `jobs`; finished runs resume instantly; the report is glow_prior.reports.experiment's.
"""
import os

from glow_prior import files
from glow_prior.errors import InputError
from glow_prior.experiments.catalogue import EXPERIMENTS
from glow_prior.experiments.commands import run_commands
from glow_prior.experiments.executor import Executor
from glow_prior.reports.experiment import seed_markdown, seed_summary, summarize
from glow_prior.config.common import CONFIGS_DIR


def reproduce(name, output_dir, config="cpu", data_dir=None, train_flags=(), eval_flags=(),
              configs_dir=CONFIGS_DIR, jobs=1):
    """Trains every run of experiment `name` (finished runs resume instantly), `jobs` at a
    time, then evaluates the evaluated ones, and summarises."""
    if name not in EXPERIMENTS:
        raise InputError(f"unknown experiment '{name}'; known: {sorted(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    executor = Executor(output_dir, jobs)
    planned = [(run, *run_commands(experiment, run, config, output_dir, data_dir, train_flags,
                                   eval_flags, configs_dir)) for run in experiment.runs]
    commands = executor.execute_all([(train, run.name, f"{run.name}.train")
                                     for run, train, _ in planned])
    commands += executor.execute_all([(evaluate, run.name, f"{run.name}.evaluate")
                                      for run, _, evaluate in planned if evaluate is not None])
    return summarize(experiment, output_dir, config, commands)


def reproduce_seeds(name, output_dir, seeds, config="cpu", data_dir=None, train_flags=(),
                    eval_flags=(), configs_dir=CONFIGS_DIR, jobs=1):
    """The experiment once per seed (seed 0 in output_dir itself, seed s in
    output_dir_seed<s>, each with --seed=s), then seeds_report.json/.md in output_dir."""
    payloads = {}
    for seed in seeds:
        directory = output_dir if seed == 0 else f"{output_dir}_seed{seed}"
        flags = [*train_flags] + ([f"--seed={seed}"] if seed else [])
        payloads[seed] = reproduce(name, directory, config, data_dir, flags, eval_flags,
                                   configs_dir, jobs)
    report = seed_summary(name, payloads)
    files.write_json(os.path.join(output_dir, "seeds_report.json"), report)
    files.write_text(os.path.join(output_dir, "seeds_report.md"), seed_markdown(report))
    return report
