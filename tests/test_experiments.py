"""bin/reproduce experiments end to end (real data where it exists here, mock data else)."""
import json
import os

import pytest
import tensorflow_datasets as tfds

from glow_prior import data, evaluation, experiments, flags as gflags, runs, training
from tests.conftest import run_binary

RESULT_KEYS = {"in_mean_log_likelihood", "ood_mean_log_likelihood", "auroc", "ood_mean_nll"}


def _report(output_dir):
    with open(os.path.join(output_dir, "report.json")) as f:
        return json.load(f)


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
def test_reproduce_fmnist17_mnist_on_real_data(prepared_data_dir, tmp_path):
    """The quickstart's pipeline, shortened: real Fashion-MNIST and MNIST, one epoch on a
    subset; checks the report's structure (the measured numbers are in the README)."""
    result = run_binary("reproduce", "--experiment=fmnist17_mnist", f"--output_dir={tmp_path}",
                        f"--data_dir={prepared_data_dir}",
                        "--train_flags=--epochs=1,--subset=512",
                        "--eval_flags=--n_eval=300", timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    report = _report(tmp_path)
    assert set(report["results"]) == {"uni", "multi", "uni_label1", "uni_label7"}
    assert report["paper"]["multi"]["ood_mean_nll"] == pytest.approx(2679.89)
    assert os.path.exists(tmp_path / "multi" / "component_means.png")


def test_cifar04_svhn_pipeline_with_mock_data(tmp_path):
    experiment = experiments.EXPERIMENTS["cifar04_svhn"]
    tiny = ["--epochs=1", "--n_batch_train=8", "--n_batch_init=16", "--depth=1", "--width=8"]
    with tfds.testing.mock_data(num_examples=200):
        for run in experiment.runs:
            path = experiments.flagfile("cpu", experiment.name, run.name)
            fv = gflags.parse_flagfile(run.binary, path, tiny)
            data_config = gflags.data_config(fv)
            assert data_config.kmeans_clusters == 4 and gflags.train_config(fv).dal == 0.1
            train, test = data.load_train_test(data_config)
            assert set(train.y.tolist()) <= {0, 4}
            architecture = gflags.glow_config(train.x.shape[1:], 10, fv)
            logdir = str(tmp_path / run.name)
            training.train_model("glow", architecture, gflags.prior_config(fv), data_config,
                                 gflags.train_config(fv), logdir, train, test,
                                 show_progress=False)
            model, hparams = runs.load_model(logdir)
            train, test, ood = data.evaluation_sets(hparams, run.ood)
            evaluation.evaluate_run(model, train, test, ood, logdir, batch_size=16)
    report = experiments.summarize(experiment, str(tmp_path), "cpu", commands=[])
    assert set(report["results"]) == {"uni", "multi"}
    assert RESULT_KEYS <= set(report["results"]["multi"])
    assert (tmp_path / "report.md").exists()
