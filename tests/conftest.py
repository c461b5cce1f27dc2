"""Shared test fixtures: prepared offline data, fixture paths, running binaries."""
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=wrong-import-position

REPO = pathlib.Path(__file__).resolve().parents[1]


def pytest_report_header(config):
    """The CPU and the oneDNN instruction-set limit the numerics run under (tolerances must
    hold on every CPU family; CI repeats the numerics tests under older instruction sets)."""
    del config
    info = pathlib.Path("/proc/cpuinfo").read_text() if os.path.exists("/proc/cpuinfo") else ""
    field = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
             for line in info.splitlines() if ":" in line}
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile")
            if f in field.get("flags", "").split()]
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA") or "unset (the CPU's best)"
    return (f"CPU: {field.get('model name', 'unknown')} (family {field.get('cpu family', '?')}, "
            f"{', '.join(simd) or 'no AVX2'}); ONEDNN_MAX_CPU_ISA={limit}")
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


def randomize(module, scale=0.1, seed=0):
    """Non-trivial weights everywhere (zero-initialised layers would be the identity):
    seeded normal noise of `scale` added to every trainable variable."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(seed)
    for variable in module.trainable_variables:
        variable.assign(variable + rng.normal(0, scale, variable.shape).astype(np.float32))
    return module


TINY_TRAINING = dict(epochs=1, n_batch_train=32, n_batch_init=64, epochs_warmup=1,
                     n_sample=0)


@pytest.fixture(scope="session")
def trained_runs(prepared_data_dir, tmp_path_factory):
    """{kind: run directory} of tiny runs of every model kind trained through
    glow_prior.train on real data (Fashion-MNIST labels 1, 7; the synthetic 2-D mixture),
    and the OpenAI Glow fixture imported."""
    # pylint: disable=import-outside-toplevel
    import glow_prior
    from glow_prior.config import (DataConfig, GlowConfig, RealNVPConfig, TabularDataConfig,
                                   TabularFlowConfig, TrainConfig, VAEConfig)
    root = tmp_path_factory.mktemp("runs")
    images = DataConfig(dataset="fashion_mnist", labels=(1, 7), subset=128,
                        data_dir=prepared_data_dir)
    quick = dict(training=TrainConfig(**TINY_TRAINING), show_progress=False)
    runs = {"glow": str(root / "glow"), "realnvp": str(root / "realnvp"),
            "vae": str(root / "vae"), "tabular": str(root / "tabular"),
            "openai": str(root / "openai")}
    glow_prior.train(GlowConfig(n_levels=2, depth=1, width=8, flow_coupling=1), runs["glow"],
                     images, **quick)
    glow_prior.train(RealNVPConfig(n_scales=2, st_blocks=1, st_width=4), runs["realnvp"],
                     images, **quick)
    glow_prior.train(VAEConfig(importance_samples=8), runs["vae"], images, **quick)
    glow_prior.train(TabularFlowConfig(n_couplings=2, hidden_units=8), runs["tabular"],
                     TabularDataConfig(dataset="synthetic_2d"), **quick)
    result = run_binary("import_openai_checkpoint",
                        f"--checkpoint={OPENAI_FIXTURE / 'additive' / 'ckpt' / 'model.ckpt'}",
                        f"--logdir={runs['openai']}", "--image_size=32", "--n_bits_x=8")
    assert result.returncode == 0, result.stderr[-2000:]
    return runs
