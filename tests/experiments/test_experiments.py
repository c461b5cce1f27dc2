"""bin/reproduce experiments end to end (real data where it exists here, mock data else)."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
import tensorflow_datasets as tfds

import glow_prior
from glow_prior import data, experiments
from glow_prior.reports import experiment as experiment_report
from glow_prior import ood as ood_module
from glow_prior.apps import train_glow
from glow_prior.reports.ood_report import write_report
from glow_prior.runs.load import load_model
from glow_prior.runs.rundir import RunDir
from tests.conftest import REPO, run_binary

RESULT_KEYS = {"in_mean_log_likelihood", "ood_mean_log_likelihood", "auroc", "ood_mean_nll"}


def _report(output_dir):
    with open(os.path.join(output_dir, "report.json")) as f:
        return json.load(f)


def test_extra_flags_are_forwarded_losslessly():
    assert experiments.split_flags("--labels=1,7 --epochs=1 --note='a b'", "--train_flags") \
        == ["--labels=1,7", "--epochs=1", "--note=a b"]
    with pytest.raises(Exception, match="joined by commas"):
        experiments.split_flags("--epochs=1,--subset=512", "--train_flags")


def test_a_failed_run_names_its_command_and_log(tmp_path):
    """The children refuse --width=0 while parsing; --labels=1,7 reaches them as one flag;
    the first failure stops the runs started beside it."""
    result = run_binary("reproduce", "--experiment=fmnist17_mnist", f"--output_dir={tmp_path}",
                        "--train_flags=--labels=1,7 --width=0", "--jobs=2")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "failed (exit status 2)" in result.stderr
    failed = result.stderr.split("run '")[1].split("'")[0]
    assert f"its output is in {tmp_path / 'logs' / (failed + '.train.log')}" in result.stderr
    assert "flag --width=0: must be >= 1" in result.stderr  # the child's own message
    logged = (tmp_path / "commands.log").read_text().splitlines()[0].split("  # ")[0]
    assert "--labels=1,7" in shlex.split(logged[2:]) and "--threads=1" in logged


@pytest.mark.slow
def test_reproduce_synthetic_2d(tmp_path):
    result = run_binary("reproduce", "--experiment=synthetic_2d", f"--output_dir={tmp_path}",
                        "--train_flags=--epochs=10")
    assert result.returncode == 0, result.stderr[-3000:]
    report = _report(tmp_path)
    uni, multi = report["results"]["uni"], report["results"]["multi"]
    assert RESULT_KEYS <= set(uni) and RESULT_KEYS <= set(multi)
    # The paper's pattern: similar in-distribution likelihoods, OOD far lower under the mixture.
    assert abs(uni["in_mean_log_likelihood"] - multi["in_mean_log_likelihood"]) < 1.5
    assert multi["ood_mean_log_likelihood"] < uni["ood_mean_log_likelihood"] - 10
    assert "| uni |" in result.stdout
    for figure in report["figures"].values():
        assert (tmp_path / figure).exists(), figure


@pytest.mark.slow
def test_reproduce_fmnist17_mnist_on_real_data_shows_progress(prepared_data_dir, tmp_path):
    """The quickstart's pipeline, shortened: real Fashion-MNIST and MNIST, one epoch on a
    subset; checks the report's structure and that the terminal shows each run's epochs
    (the measured numbers are in the README)."""
    result = run_binary("reproduce", "--experiment=fmnist17_mnist", f"--output_dir={tmp_path}",
                        f"--data_dir={prepared_data_dir}",
                        "--train_flags=--epochs=1 --subset=512 --progress_secs=0",
                        "--eval_flags=--n_eval=300", timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    report = _report(tmp_path)
    assert set(report["results"]) == {"uni", "multi", "uni_label1", "uni_label7"}
    assert report["paper"]["multi"]["ood_mean_nll"] == pytest.approx(2679.89)
    assert os.path.exists(tmp_path / "multi" / "component_means.png")
    for run in ("uni", "multi", "uni_label1", "uni_label7"):
        assert f"[{run}] epoch 1/1: " in result.stdout, run
        assert f"[{run}] progress: epoch 1/1 step 1/" in result.stdout, run
    assert "left=0:00:00" in result.stdout
    assert "cuInit" not in result.stdout + result.stderr


@pytest.mark.slow
def test_cifar04_svhn_pipeline_with_mock_data(tmp_path):
    experiment = experiments.EXPERIMENTS["cifar04_svhn"]
    tiny = ["--epochs=1", "--n_batch_train=8", "--n_batch_init=16", "--depth=1", "--width=8"]
    with tfds.testing.mock_data(num_examples=200):
        for run in experiment.runs:
            path = experiments.flagfile("cpu", experiment.name, run.name)
            logdir = str(tmp_path / run.name)
            args = train_glow.APP.parse(["train_glow", f"--flagfile={path}",
                                         f"--logdir={logdir}", *tiny])
            assert args.data.kmeans_clusters == 4
            assert args.training.augment_shift(args.data.dataset) == 0.1
            train, _ = data.load_train_test(args.data)
            assert set(train.y.tolist()) <= {0, 4} and not args.negative.active
            glow_prior.train(args.architecture, logdir, args.data, prior=args.prior,
                             training=args.training, negative_training=args.negative,
                             run=args.run, show_progress=False)
            model, spec = load_model(logdir)
            train, test, ood = data.evaluation_sets(spec, run.ood)
            write_report(ood_module.evaluate_run(model, train, test, ood, batch_size=16),
                         logdir)
    report = experiment_report.summarize(experiment, str(tmp_path), "cpu", commands=[])
    assert set(report["results"]) == {"uni", "multi"}
    assert RESULT_KEYS <= set(report["results"]["multi"])
    assert (tmp_path / "report.md").exists()


def test_seed_summary_by_hand():
    payloads = {seed: {"results": {"uni": {"in_mean_log_likelihood": ll,
                                           "ood_mean_log_likelihood": ll - 10.0,
                                           "ood_mean_nll": 10.0 - ll, "auroc": auroc}}}
                for seed, ll, auroc in ((0, -100.0, 0.6), (1, -104.0, 0.7), (2, -102.0, 0.8))}
    report = experiment_report.seed_summary("fmnist17_mnist", payloads)
    entry = report["summary"]["uni"]
    assert entry["in_mean_log_likelihood"]["mean"] == pytest.approx(-102.0)
    assert entry["in_mean_log_likelihood"]["std"] == pytest.approx(2.0)  # ddof 1
    assert entry["auroc"]["std"] == pytest.approx(0.1)
    assert "| uni | -102.00 +- 2.00 |" in experiment_report.seed_markdown(report)


def _processes_mentioning(text):
    """Command lines of the running processes that contain `text` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.isdigit() and text in command:
            found.append(command)
    return found


@pytest.mark.slow
def test_stopping_reproduce_stops_its_commands_and_frees_their_runs(tmp_path):
    """Issue 22.11: SIGTERM to reproduce is passed on to the trainings it runs; it waits for
    them and exits 143, leaving no command running and every run directory unlocked, so an
    immediate rerun does not race them."""
    output = tmp_path / "synthetic"
    process = subprocess.Popen([sys.executable, str(REPO / "bin" / "reproduce"),
                                "--experiment=synthetic_2d", f"--output_dir={output}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not (output / "uni" / "train.txt").exists():
        time.sleep(0.2)
    assert (output / "uni" / "train.txt").exists(), process.communicate(timeout=60)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("stopped: reproduce terminated (SIGTERM)")
    assert _processes_mentioning(str(output)) == []
    for run in ("uni", "multi"):
        if (output / run).exists():
            directory = RunDir(str(output / run))
            directory.lock()  # would fail, naming the holder, if a training still ran
            directory.close()
