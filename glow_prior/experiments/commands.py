"""The command lines of an experiment's runs: `python -m glow_prior.apps.<binary>` with the
run's flagfile, exactly what a user runs by hand."""
import os
import shlex
import sys

from glow_prior.config.common import CONFIGS_DIR
from glow_prior.errors import InputError


def flagfile(config, experiment, run, configs_dir=CONFIGS_DIR):
    """The path of run `run`'s flagfile of `experiment` in configs/<config>/."""
    path = os.path.join(configs_dir, config, experiment, f"{run}.cfg")
    if not os.path.exists(path):
        raise InputError(f"no flagfile {path} for run '{run}' of '{experiment}'")
    return path


def split_flags(text, what):
    """Extra flags given as one shell-quoted string ("--epochs=1 --labels=1,7"): split like
    a shell would, so a value may contain commas or spaces (quoted)."""
    tokens = shlex.split(text)
    for token in tokens:
        if not token.startswith("-"):
            raise InputError(f"{what}: '{token}' is not a flag (give flags separated by "
                             "spaces, e.g. \"--epochs=1 --labels=1,7\")")
        if ",--" in token:
            raise InputError(f"{what}: '{token}' looks like several flags joined by commas; "
                             "separate flags by spaces, e.g. \"--epochs=1 --subset=512\"")
    return tokens


def command_line(command):
    """A command as a shell-quoted line."""
    return shlex.join(command)


def app_command(binary, *flags):
    """The command that runs binary `binary` with `flags` in this Python."""
    return [sys.executable, "-m", f"glow_prior.apps.{binary}", *flags]


def run_logdir(experiment, run, config, output_dir):
    """Where a run trains: a reused run's directory when it exists, else OUTPUT_DIR/run."""
    if run.reuse is not None:
        reused = os.path.join(os.path.dirname(os.path.abspath(output_dir)),
                              f"{run.reuse[0]}_{config}", run.reuse[1])
        if os.path.exists(os.path.join(reused, "hparams.json")):
            return reused
    return os.path.join(output_dir, run.name)


def run_commands(experiment, run, config, output_dir, data_dir=None, train_flags=(),
                 eval_flags=(), configs_dir=CONFIGS_DIR):
    """(train command, evaluate command or None) of one run."""
    def logdir(name):
        return run_logdir(experiment, next(r for r in experiment.runs if r.name == name),
                          config, output_dir)

    common = [f"--data_dir={data_dir}"] if data_dir and run.binary != "train_tabular" else []
    train = app_command(run.binary,
                        f"--flagfile={flagfile(config, experiment.name, run.name, configs_dir)}",
                        f"--logdir={logdir(run.name)}", *common, *train_flags)
    if not run.evaluate:
        return train, None
    companions = []
    if run.background:
        companions.append(f"--background_logdir={logdir(run.background)}")
    if run.ensemble:
        companions.append(f"--ensemble_logdirs={','.join(logdir(n) for n in run.ensemble)}")
    evaluate = app_command("evaluate_ood", f"--logdir={logdir(run.name)}",
                           f"--output_dir={os.path.join(output_dir, run.name)}",
                           f"--ood_datasets={','.join(run.ood)}", *common, *companions,
                           *eval_flags, *run.eval_flags)
    return train, evaluate
