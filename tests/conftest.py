"""Shared test fixtures: prepared offline data, fixture paths, running binaries."""
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=wrong-import-position

REPO = pathlib.Path(__file__).resolve().parents[1]
OPENAI_FIXTURE = REPO / "tests" / "fixtures" / "openai_glow"


@pytest.fixture(scope="session")
def prepared_data_dir(tmp_path_factory):
    """A tfds data_dir with fashion_mnist and mnist built offline by bin/prepare_data."""
    data_dir = tmp_path_factory.mktemp("tfds")
    result = run_binary("prepare_data", f"--data_dir={data_dir}", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(data_dir)


def run_binary(name, *args, timeout=600, env=None):
    """Runs bin/<name> with this interpreter; returns the CompletedProcess."""
    command = [sys.executable, str(REPO / "bin" / name), *args]
    environment = dict(os.environ, **(env or {}))
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=environment, check=False)


TINY_TRAINING = dict(epochs=1, n_batch_train=32, n_batch_init=64, epochs_warmup=1,
                     n_sample=0)


@pytest.fixture(scope="session")
def trained_runs(prepared_data_dir, tmp_path_factory):
    """{kind: run directory} of tiny runs of every model kind trained through
    glow_prior.train on real data (Fashion-MNIST labels 1, 7; the synthetic 2-D mixture),
    and the OpenAI Glow fixture imported."""
    import glow_prior  # pylint: disable=import-outside-toplevel
    root = tmp_path_factory.mktemp("runs")
    images = dict(dataset="fashion_mnist", labels=(1, 7), subset=128,
                  data_dir=prepared_data_dir, show_progress=False, **TINY_TRAINING)
    runs = {"glow": str(root / "glow"), "realnvp": str(root / "realnvp"),
            "vae": str(root / "vae"), "tabular": str(root / "tabular"),
            "openai": str(root / "openai")}
    glow_prior.train("glow", runs["glow"], n_levels=2, depth=1, width=8, flow_coupling=1,
                     **images)
    glow_prior.train("realnvp", runs["realnvp"], n_scales=2, st_blocks=1, st_width=4,
                     **images)
    glow_prior.train("vae", runs["vae"], importance_samples=8, **images)
    glow_prior.train("tabular", runs["tabular"], dataset="synthetic_2d", n_couplings=2,
                     hidden_units=8, show_progress=False, **TINY_TRAINING)
    result = run_binary("import_openai_checkpoint",
                        f"--checkpoint={OPENAI_FIXTURE / 'additive' / 'ckpt' / 'model.ckpt'}",
                        f"--logdir={runs['openai']}", "--image_size=32", "--n_bits_x=8")
    assert result.returncode == 0, result.stderr[-2000:]
    return runs
