"""Reproduces an experiment of the two papers: trains every run, evaluates, summarises.

    reproduce [--experiment=fmnist17_mnist] [--config=cpu|paper] [--output_dir=DIR]
              [--train_flags="--epochs=1 --labels=1,7"] [--eval_flags="--n_eval=300"]

Each run is `train_<model> --flagfile=configs/<config>/<experiment>/<run>.cfg` followed by
`evaluate_ood`, each in its own process; finished runs resume instantly. The terminal shows
each run's progress (epoch, bits/dim, images/s, time left); the full output goes to
DIR/commands.log. Writes DIR/report.json, report.md (printed at the end) and figures.
Experiments: see --helpfull or the README.
"""
import dataclasses
import os
import sys

from glow_prior import experiments
from glow_prior.apps import cli
from glow_prior.config import Config, option
from glow_prior.config.common import CONFIGS_DIR
from glow_prior.reports.experiment import markdown, seed_markdown


@dataclasses.dataclass(frozen=True)
class ReproduceOptions(Config):
    experiment: str = option("fmnist17_mnist", "Experiment to run.",
                             choices=tuple(sorted(experiments.EXPERIMENTS)))
    config: str = option("cpu", "cpu: minutes on 2 cores; paper: the papers' settings "
                         "(GPU-scale).", choices=("cpu", "paper"))
    output_dir: str = option(None, "Output directory (default runs/<experiment>_<config>).")
    data_dir: str = option(None, "tfds data_dir passed to the image binaries.")
    train_flags: str = option("", "Extra flags for every training run, space-separated and "
                              "shell-quoted, e.g. \"--epochs=1 --labels=1,7\".")
    eval_flags: str = option("", "Extra flags for every evaluate_ood run, likewise.")
    configs_dir: str = option(CONFIGS_DIR, "Folder with cpu/ and paper/.")
    seeds: tuple = option((), "Run the experiment once per seed (e.g. 0,1,2; seed s > 0 in "
                          "OUTPUT_DIR_seed<s> with --seed=s) and summarise mean and standard "
                          "deviation in OUTPUT_DIR/seeds_report.md.", item=int)
    jobs: int = option(0, "Commands run at once, each with cores // jobs TensorFlow threads "
                       "(0: one per core; small models train faster in parallel than one "
                       "at a time on all cores).", lower=0)


def run(args):
    """Runs the experiment (once, or once per seed) and prints its report."""
    options = args.reproduce
    output_dir = options.output_dir or os.path.join(
        "runs", f"{options.experiment}_{options.config}")
    eval_flags = experiments.split_flags(options.eval_flags, "--eval_flags")
    evaluate_cfg = os.path.join(options.configs_dir, options.config, options.experiment,
                                "evaluate.cfg")
    if os.path.exists(evaluate_cfg):
        eval_flags.insert(0, f"--flagfile={evaluate_cfg}")
    common = dict(config=options.config, data_dir=options.data_dir,
                  train_flags=experiments.split_flags(options.train_flags, "--train_flags"),
                  eval_flags=eval_flags, configs_dir=options.configs_dir,
                  jobs=options.jobs or os.cpu_count() or 1)
    if options.seeds:
        report = experiments.reproduce_seeds(options.experiment, output_dir, options.seeds,
                                             **common)
        print(seed_markdown(report))
        print(f"Report: {os.path.join(output_dir, 'seeds_report.md')}")
        return
    report = experiments.reproduce(options.experiment, output_dir, **common)
    print(markdown(report))
    print(f"Report: {os.path.join(output_dir, 'report.md')}")


def check_flags(args):
    """The extra training and evaluation flags must split into flags."""
    for name in ("train_flags", "eval_flags"):
        experiments.split_flags(getattr(args.reproduce, name), f"--{name}")


APP = cli.App("reproduce", __doc__, {"reproduce": ReproduceOptions}, run,
              checks=(check_flags,), tensorflow=False)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
