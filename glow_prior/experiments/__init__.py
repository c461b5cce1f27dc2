"""The papers' experiments as sequences of binary runs, and reproducing them.

* catalogue: the experiments (runs, flagfiles by name, the papers' numbers);
* commands: each run's train and evaluate_ood command lines;
* executor: running the commands in their own processes, several at once;
* reproduce: train, evaluate and summarise an experiment, once or per seed (the report
  itself is glow_prior.reports.experiment's).
"""
from glow_prior.experiments.catalogue import EXPERIMENTS, Experiment, Run
from glow_prior.experiments.commands import flagfile, run_commands, split_flags
from glow_prior.experiments.reproduce import reproduce, reproduce_seeds

__all__ = ["EXPERIMENTS", "Experiment", "Run", "flagfile", "reproduce", "reproduce_seeds",
           "run_commands", "split_flags"]
