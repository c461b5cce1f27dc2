"""The papers' experiments as sequences of binary runs, and their reports.

An experiment is a list of runs; each run is a training binary with a flagfile from
configs/<cpu|paper>/<experiment>/<run>.cfg, followed by evaluate_ood. `reproduce` executes
exactly these commands (`python -m glow_prior.apps.<binary>`, the code a user runs by hand),
each in its own process (several at once with --jobs), and summarises every run's
ood_report.json into OUTPUT_DIR/report.json, report.md and figures. While a run trains, its
per-epoch lines and periodic progress lines (epoch, bits/dim, images/s, time left) are
shown in the terminal, prefixed with the run's name; everything a command prints goes to
OUTPUT_DIR/logs/<run>.<train|evaluate>.log, and commands.log lists the commands.
"""
import concurrent.futures
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import threading

import numpy as np

from glow_prior import files, plots
from glow_prior.errors import GlowPriorError, InputError, Interrupted
from glow_prior.tables import markdown_table

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS_DIR = os.path.join(REPO_ROOT, "configs")
# Lines of a training or evaluation process shown in the terminal (all go to the log).
SHOWN_PREFIXES = ("epoch ", "progress: ", "Resumed from", "Restored weights", "error: ",
                  "Traceback", "Scored")


class RunFailedError(GlowPriorError):
    """A command of an experiment exited with an error."""


@dataclasses.dataclass(frozen=True)
class Run:
    """A training run and its evaluation.

    reuse: (experiment, run) whose run directory is used instead of training anew when it
    exists (same flagfile content, so training there resumes instantly); evaluate: False for
    runs that only serve another's evaluation (background models, ensemble members);
    background / ensemble: names of runs whose models evaluate_ood gets as
    --background_logdir / --ensemble_logdirs; eval_flags: extra evaluate_ood flags."""

    name: str
    binary: str
    ood: tuple
    reuse: tuple = None
    evaluate: bool = True
    background: str = None
    ensemble: tuple = ()
    eval_flags: tuple = ()


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    runs: tuple
    # Reference numbers from the paper, shown beside ours.
    paper: dict = dataclasses.field(default_factory=dict)
    # Runs of a sweep: run name -> (series label, x value) for a line plot.
    sweep: dict = dataclasses.field(default_factory=dict)
    sweep_axis: str = ""
    # The report tabulates every OOD score of every run (not only the log-likelihood).
    score_table: bool = False

    @property
    def evaluated(self):
        return tuple(run for run in self.runs if run.evaluate)


def _glow(name, ood="mnist"):
    return Run(name, "train_glow", (ood,))


def _vae(name, ood="mnist"):
    return Run(name, "train_vae", (ood,))


def _realnvp(name, ood="mnist"):
    return Run(name, "train_realnvp", (ood,) if isinstance(ood, str) else tuple(ood))


def _kirichenko_pair(name):
    return Run(name, "train_realnvp" if name.startswith("realnvp") else "train_glow",
               ("mnist",) if name.endswith("fmnist") else ("fashion_mnist",))


def _synthetic(name):
    return Experiment(
        name, "Flows of 4 affine couplings on Kamoi et al.'s two-mode mixture with a standard "
              "vs a bimodal Gaussian mixture prior; OOD: N(0, 0.01 I) (their Section 3.1, "
              "Figures 2 and 10).",
        (Run("uni", "train_tabular", ("synthetic_ood",)),
         Run("multi", "train_tabular", ("synthetic_ood",))),
        paper={"uni": {"in_mean_log_likelihood": -3.25, "ood_mean_log_likelihood": -4.87},
               "multi": {"ood_mean_log_likelihood": -40.11}} if name == "synthetic_2d" else {})


DISTANCES = (10, 25, 50, 100)
OOD_SCORE_SETS = ("mnist", "constant", "noise", "other_labels")


def _ood_scores():
    """Every OOD score on the main experiment's models (Glow, standard and bimodal prior, on
    Fashion-MNIST labels 1, 7) and the VAE pair, reusing their runs when they exist."""
    glow = dict(binary="train_glow", ood=OOD_SCORE_SETS)
    vae = dict(binary="train_vae", ood=OOD_SCORE_SETS,
               # Likelihood regret re-optimises an encoder per image: ~1 s per image for 50
               # steps on one core, so the CPU config scores 100 images per set.
               eval_flags=("--n_eval=100", "--regret_steps=50"))
    return Experiment(
        "ood_scores",
        "Every likelihood-based OOD score of glow_prior on one evaluation: Glow with a "
        "standard and with a bimodal mixture prior on Fashion-MNIST labels 1, 7 (the main "
        "experiment's models), their likelihood-ratio background models (perturbation rate "
        "0.2, L2 1e-4), a 3-member ensemble of the standard-prior Glow (WAIC), and the VAE "
        "pair, and a multi-scale Glow for the per-level scores; OOD: MNIST, constant and "
        "noise images, Fashion-MNIST's other labels.",
        (Run("glow_uni", reuse=("fmnist17_mnist", "uni"), background="glow_uni_background",
             ensemble=("glow_uni", "glow_uni_seed1", "glow_uni_seed2"), **glow),
         Run("glow_multi", reuse=("fmnist17_mnist", "multi"),
             background="glow_multi_background", **glow),
         Run("glow_uni_background", evaluate=False, **glow),
         Run("glow_multi_background", evaluate=False, **glow),
         Run("glow_uni_seed1", evaluate=False, **glow),
         Run("glow_uni_seed2", evaluate=False, **glow),
         Run("glow_uni_multiscale", **glow),
         Run("vae_uni", reuse=("fmnist17_mnist_vae", "uni"), **vae),
         Run("vae_multi", reuse=("fmnist17_mnist_vae", "multi"), **vae)),
        paper={"vae_uni": {"mnist": "ELBO 0.87, likelihood regret 0.99, DoSE 1.00 "
                                    "(Fashion-MNIST -> MNIST, as tabulated in later papers)"}},
        score_table=True)

EXPERIMENTS = {
    "synthetic_2d": _synthetic("synthetic_2d"),
    "synthetic_10d": _synthetic("synthetic_10d"),
    "fmnist17_mnist": Experiment(
        "fmnist17_mnist",
        "Glow on Fashion-MNIST labels 1 and 7 with a standard vs a bimodal Gaussian mixture "
        "prior (means [+-50, 0, ...]), and standard-prior Glows on label 1 only and label 7 "
        "only; OOD: MNIST (Kamoi et al. Section 5.3, Figure 4, Table 1).",
        (_glow("uni"), _glow("multi"), _glow("uni_label1"), _glow("uni_label7")),
        paper={"uni": {"ood_mean_nll": 1372.18}, "multi": {"ood_mean_nll": 2679.89},
               "uni_label1": {"ood_mean_nll": 1791.96},
               "uni_label7": {"ood_mean_nll": 1595.10}}),
    "fmnist17_mnist_vae": Experiment(
        "fmnist17_mnist_vae",
        "The VAE of Kamoi et al. (Table 2) on Fashion-MNIST labels 1 and 7 with a standard vs "
        "a bimodal Gaussian mixture prior (means [+-75, 0, ...]), and standard-prior VAEs on "
        "label 1 only and label 7 only; OOD: MNIST; importance-sampled log-likelihoods "
        "(Section 5.3, Figures 4a and 7, Table 1).",
        (_vae("uni"), _vae("multi"), _vae("uni_label1"), _vae("uni_label7")),
        paper={"uni": {"ood_mean_nll": 1647.76}, "multi": {"ood_mean_nll": 2821.97},
               "uni_label1": {"ood_mean_nll": 1976.73},
               "uni_label7": {"ood_mean_nll": 1578.43}}),
    "fmnist0178_mnist_vae": Experiment(
        "fmnist0178_mnist_vae",
        "The VAE on Fashion-MNIST labels 0, 1, 7, 8 with a standard vs a four-component "
        "Gaussian mixture prior (means 150 e_k); OOD: MNIST (Section 5.4, Figure 8a).",
        (_vae("uni"), _vae("multi"))),
    "cifar04_svhn_vae": Experiment(
        "cifar04_svhn_vae",
        "The VAE of Kamoi et al. (Table 3) on one k-means++ cluster of each of CIFAR-10 "
        "labels 0 and 4 with a standard vs a bimodal Gaussian mixture prior (means "
        "[+-100, 0, ...]); OOD: SVHN (Section 5.4, Figure 9a).",
        (_vae("uni", "svhn_cropped"), _vae("multi", "svhn_cropped"))),
    "distance_sweep": Experiment(
        "distance_sweep",
        "MNIST mean log-likelihood against the distance d between the two components "
        "([+-d/2, 0, ...]) of a Gaussian vs a generalized Gaussian (beta = 4) mixture prior, "
        "Glow on Fashion-MNIST labels 1 and 7 (Kamoi et al. Figure 6).",
        tuple(_glow(f"{kind}_d{d}") for kind in ("gaussian", "generalized") for d in DISTANCES),
        sweep={f"{kind}_d{d}": (kind, d) for kind in ("gaussian", "generalized")
               for d in DISTANCES},
        sweep_axis="distance between components"),
    "fmnist0178_mnist": Experiment(
        "fmnist0178_mnist",
        "Glow on Fashion-MNIST labels 0, 1, 7, 8 with a standard vs a four-component "
        "Gaussian mixture prior (means [200 k, 0, ...]); OOD: MNIST (Kamoi et al. Figure 8).",
        (_glow("uni"), _glow("multi"))),
    "converged": Experiment(
        "converged",
        "Kamoi et al.'s claim that a mixture prior lowers OOD likelihood while the "
        "in-distribution likelihood stays about the same, tested at convergence: the "
        "fmnist0178 Glow and VAE (standard vs four-component prior) and the fmnist17 Glow "
        "with generalized-Gaussian mixtures at d = 50 and 100 against its standard prior, "
        "trained until the in-distribution likelihood plateaus; OOD: MNIST.",
        (_glow("glow17_uni"), _glow("glow17_generalized_d50"), _glow("glow17_generalized_d100"),
         _glow("glow0178_uni"), _glow("glow0178_multi"),
         Run("vae0178_uni", "train_vae", ("mnist",), eval_flags=("--n_eval=300",)),
         Run("vae0178_multi", "train_vae", ("mnist",), eval_flags=("--n_eval=300",)))),
    "baseline_auroc": Experiment(
        "baseline_auroc",
        "RealNVP and Glow trained on Fashion-MNIST (OOD: MNIST) and on MNIST (OOD: "
        "Fashion-MNIST): flows fail to detect OOD data (Kirichenko et al. App. D, Table 1).",
        tuple(_kirichenko_pair(name) for name in ("realnvp_fmnist", "realnvp_mnist",
                                                  "glow_fmnist", "glow_mnist")),
        paper={"realnvp_fmnist": {"auroc": 0.108}, "realnvp_mnist": {"auroc": 0.9999},
               "glow_fmnist": {"auroc": 0.133}, "glow_mnist": {"auroc": 0.9996}}),
    "masks": Experiment(
        "masks",
        "Single-scale RealNVPs with checkerboard, horizontal and cycle masks on Fashion-MNIST; "
        "OOD: MNIST (Kirichenko et al. App. I.1, Figure 15).",
        tuple(_realnvp(mask) for mask in ("checkerboard", "horizontal", "cycle"))),
    "bottleneck": Experiment(
        "bottleneck",
        "RealNVP on Fashion-MNIST with st-network bottlenecks l = 10, 50, 100 against the "
        "baseline; OOD: MNIST (Kirichenko et al. App. I.2, Figure 16).",
        tuple(_realnvp(name) for name in ("baseline", "l10", "l50", "l100")),
        sweep={"l10": ("bottleneck", 10), "l50": ("bottleneck", 50),
               "l100": ("bottleneck", 100)},
        sweep_axis="bottleneck dimension l"),
    "negative_training": Experiment(
        "negative_training",
        "RealNVP trained to maximise the likelihood of one dataset and minimise that of "
        "another above c = -30000 nats (eq. 7), evaluated on both and on held-out OOD sets "
        "(Kirichenko et al. App. B, Figure 7e/f).",
        (_realnvp("fmnist_up_mnist_down", ("mnist", "constant", "noise")),
         _realnvp("mnist_up_fmnist_down", ("fashion_mnist", "constant", "noise")))),
    "tabular": Experiment(
        "tabular",
        "Tabular RealNVP (8 couplings, MLP st-networks, AdamW) on scikit-learn's "
        "breast-cancer data: trained on one class, the other class is OOD (the offline "
        "counterpart of Kirichenko et al. App. K.3).",
        (Run("class0", "train_tabular", ("class_1",)),
         Run("class1", "train_tabular", ("class_0",)))),
    "tabular_uci": Experiment(
        "tabular_uci",
        "Tabular RealNVP on HEPMASS and MINIBOONE (UCI files under data/uci/, see the "
        "flagfiles): trained on one class, the other is OOD (Kirichenko et al. Table 2b).",
        tuple(Run(f"{name}_{cls}", "train_tabular", (f"class_{1 - index}",))
              for name in ("hepmass", "miniboone")
              for index, cls in enumerate(("background", "signal"))),
        paper={"hepmass_background": {"auroc": 0.8378}, "hepmass_signal": {"auroc": 0.7073},
               "miniboone_background": {"auroc": 0.7271},
               "miniboone_signal": {"auroc": 0.8756}}),
    "ood_scores": _ood_scores(),
    "cifar04_svhn": Experiment(
        "cifar04_svhn",
        "Glow on one k-means++ cluster (of 4) of each of CIFAR-10 labels 0 and 4 with a "
        "standard vs a bimodal Gaussian mixture prior (means [+-100, 0, ...]); OOD: SVHN "
        "(Kamoi et al. Section 5.4, Figure 9).",
        (_glow("uni", "svhn_cropped"), _glow("multi", "svhn_cropped"))),
}


def flagfile(config, experiment, run, configs_dir=CONFIGS_DIR):
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
    return " ".join(shlex.quote(c) for c in command)


class Executor:
    """Runs the commands of an experiment, `jobs` at a time (each TensorFlow process then
    gets cores // jobs threads). A command's output goes to OUTPUT_DIR/logs/<name>.log and
    its progress lines to the terminal as "[run] ..."; commands.log lists every command.
    The first failure stops the others and raises RunFailedError naming the command and
    its log."""

    def __init__(self, output_dir, jobs=1):
        self.output_dir = output_dir
        self.jobs = max(1, int(jobs))
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0
        self._lock = threading.Lock()
        self._failed = threading.Event()
        self._running = set()
        os.makedirs(os.path.join(output_dir, "logs"), exist_ok=True)

    def _say(self, text):
        with self._lock:
            print(text, flush=True)

    def execute(self, command, label, log_name):
        """Runs one command (see the class docstring)."""
        if self._failed.is_set():
            return
        if self.threads:
            command = [*command, f"--threads={self.threads}"]
        log_path = os.path.join(self.output_dir, "logs", f"{log_name}.log")
        with self._lock:
            with open(os.path.join(self.output_dir, "commands.log"), "a") as f:
                f.write(f"$ {command_line(command)}  # output: logs/{log_name}.log\n")
        self._say(f"[{label}] $ {command_line(command)}")
        with open(log_path, "a") as log:
            log.write(f"$ {command_line(command)}\n")
            log.flush()
            # A session of its own: a terminal's Ctrl-C reaches reproduce, which passes it
            # on once (a second SIGINT would stop a training without its checkpoint).
            process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, bufsize=1,
                                       start_new_session=True)
            with self._lock:
                self._running.add(process)
            last_lines = []
            for line in process.stdout:
                log.write(line)
                log.flush()
                last_lines = (last_lines + [line.rstrip()])[-6:]
                if line.startswith(SHOWN_PREFIXES):
                    self._say(f"[{label}] {line.rstrip()}")
            status = process.wait()
            with self._lock:
                self._running.discard(process)
        if status != 0 and not self._failed.is_set():
            self._failed.set()
            with self._lock:
                for other in self._running:
                    other.terminate()
            tail = " | ".join(line for line in last_lines if line)
            raise RunFailedError(f"run '{label}' failed (exit status {status}): "
                                 f"{command_line(command)}; its output is in {log_path} "
                                 f"(last lines: {tail})")

    def execute_all(self, items):
        """Runs [(command, label, log name)], `jobs` at a time; returns the commands.
        SIGINT or SIGTERM is passed on to the running commands (trainings checkpoint and
        stop), no new command starts, and once they have ended Interrupted is raised."""
        with _ForwardedSignals(self) as forwarded:
            with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
                futures = [pool.submit(self.execute, *item) for item in items]
                for future in futures:
                    try:
                        future.result()
                    except RunFailedError:
                        if forwarded.received is None:
                            raise
            forwarded.raise_if_received()
        return [command for command, _, _ in items]

    def forward(self, signum):
        """Stops new commands and sends `signum` to the running ones."""
        self._failed.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            if process.poll() is None:
                process.send_signal(signum)


class _ForwardedSignals:
    """SIGINT/SIGTERM handlers (main thread only) that forward the signal to an Executor's
    commands; `raise_if_received` then raises Interrupted (exit status 130 or 143)."""

    STATUS = {signal.SIGINT: ("interrupted (Ctrl-C)", 130),
              signal.SIGTERM: ("terminated (SIGTERM)", 143)}

    def __init__(self, executor):
        self.executor = executor
        self.received = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.STATUS:
                self._previous[signum] = signal.signal(signum, self._forward)
        return self

    def _forward(self, signum, frame):
        del frame
        self.received = signum
        self.executor.forward(signum)

    def raise_if_received(self):
        if self.received is not None:
            what, status = self.STATUS[self.received]
            raise Interrupted(f"reproduce {what}: the running commands were passed the "
                              "signal and have ended (trainings checkpointed); rerun the "
                              "same command to resume", status)

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False


def app_command(binary, *flags):
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


def _run_result(report, ood_name):
    entry = report["ood_datasets"][ood_name]
    return {"in_mean_log_likelihood": entry["in_mean_log_likelihood"],
            "ood_mean_log_likelihood": entry["ood_mean_log_likelihood"],
            "ood_mean_nll": -entry["ood_mean_log_likelihood"],
            "in_mean_bits_per_dim": entry["in_mean_bits_per_dim"],
            "ood_mean_bits_per_dim": entry["ood_mean_bits_per_dim"],
            "auroc": entry["auroc"], "aupr_in": entry["aupr_in"],
            "aupr_out": entry["aupr_out"], "fpr_at_95_tpr": entry["fpr_at_95_tpr"]}


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
    rows = [[name, score, *(entries[ood]["auroc"] for ood in ood_names)]
            for name, result in runs.items() for score, entries in result["scores"].items()]
    return ["", "AUROC of every score (higher score = more in-distribution; "
            "in-distribution is the positive class):", "",
            *markdown_table(["model", "score", *ood_names], rows, digits=3)]


def markdown(payload):
    lines = [f"# {payload['experiment']} ({payload['config']} config)", "",
             payload["description"], "",
             "Log-likelihoods in nats per example (image flows: OpenAI's convention, "
             "including -D ln 256); AUROC with in-distribution as the positive class and "
             "log-likelihood as the score.", ""]
    rows = []
    for name, result in payload["results"].items():
        paper = payload["paper"].get(name, {})
        rows.append([name, result["in_mean_log_likelihood"], result["ood_mean_log_likelihood"],
                     result["ood_mean_nll"], result["auroc"],
                     ", ".join(f"{k} {v}" for k, v in paper.items()) or None])
    for name, result in payload["results"].items():
        for ood, entry in result.get("per_ood", {}).items():
            rows.append([f"{name} vs {ood}", entry["in_mean_log_likelihood"],
                         entry["ood_mean_log_likelihood"], entry["ood_mean_nll"],
                         entry["auroc"], None])
    lines += markdown_table(["run", "in mean LL", "OOD mean LL", "OOD mean NLL", "AUROC",
                             "paper"], [[r[0], *(_two(v) for v in r[1:4]), r[4], r[5]]
                                        for r in rows])
    lines += _score_table(payload)
    lines += ["", "Figures:", *[f"- {k}: {v}" for k, v in payload["figures"].items()],
              "", "Commands:", "", "```"]
    lines += [command_line(command) for command in payload["commands"]]
    lines += ["```", ""]
    return "\n".join(lines)


def _two(value):
    """A log-likelihood cell: two decimals."""
    return f"{value:.2f}"


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
            "paper": EXPERIMENTS[name].paper}


def seed_markdown(report):
    lines = [f"# {report['experiment']}: mean +- standard deviation over seeds "
             f"{', '.join(map(str, report['seeds']))}", ""]
    rows = []
    for run, values in report["summary"].items():
        cells = [f"{values[k]['mean']:.2f} +- {values[k]['std']:.2f}" for k in SEED_KEYS[:3]]
        cells.append(f"{values['auroc']['mean']:.3f} +- {values['auroc']['std']:.3f}")
        paper = ", ".join(f"{k} {v}" for k, v in report["paper"].get(run, {}).items())
        rows.append([run, *cells, paper or None])
    lines += markdown_table(["run", "in mean LL", "OOD mean LL", "OOD mean NLL", "AUROC",
                             "paper"], rows)
    return "\n".join(lines + [""])


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
