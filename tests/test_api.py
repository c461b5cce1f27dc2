"""The Python API: glow_prior.load on every model kind, and the README's and the tutorial's
code, executed as written."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import glow_prior
from glow_prior.errors import InputError
from tests.conftest import REPO

KINDS = ["glow", "realnvp", "vae", "tabular", "openai"]


def _examples(model, shape, seed=0):
    rng = np.random.default_rng(seed)
    if model.dtype == tf.uint8:
        return rng.integers(0, 256, (*shape, *model.example_shape)).astype(np.uint8)
    return rng.normal(size=(*shape, *model.example_shape)).astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_load_gives_a_tfp_distribution_with_tfp_shapes(trained_runs, kind):
    model = glow_prior.load(trained_runs[kind])
    assert isinstance(model, tfp.distributions.Distribution)
    assert model.batch_shape == () and tuple(model.event_shape) == model.example_shape
    x = _examples(model, (6,))
    per_example = model.log_prob(x).numpy()
    assert per_example.shape == (6,) and np.all(np.isfinite(per_example))
    single = model.log_prob(x[0]).numpy()
    nested = model.log_prob(x.reshape(2, 3, *model.example_shape)).numpy()
    assert single.shape == () and nested.shape == (2, 3)
    rtol = 1e-4 if kind == "vae" else 1e-5  # importance sampling: summation order
    np.testing.assert_allclose(single, per_example[0], rtol=rtol)
    np.testing.assert_allclose(nested.ravel(), per_example, rtol=rtol)
    assert model.sample(seed=3).shape == model.example_shape
    assert model.sample([2, 3], seed=(3, 4)).shape == (2, 3, *model.example_shape)
    assert model.run_spec.model == ("glow" if kind == "openai" else kind)
    stats = model.statistics(x.reshape(2, 3, *model.example_shape))
    assert stats["log_likelihood"].shape == (2, 3)


def test_load_in_float64(trained_runs):
    model = glow_prior.load(trained_runs["glow"], dtype="float64")
    x = _examples(model, (4,))
    assert model.log_prob(x).dtype == tf.float64
    np.testing.assert_allclose(model.log_prob(x), glow_prior.load(trained_runs["glow"])
                               .log_prob(x), rtol=1e-5)
    with pytest.raises(InputError, match="float32 or float64"):
        glow_prior.load(trained_runs["glow"], dtype="float16")


def test_train_refuses_unknown_models_and_bad_flags(tmp_path):
    with pytest.raises(InputError, match="model must be one of"):
        glow_prior.train("pixelcnn", str(tmp_path))
    with pytest.raises(InputError, match="depth"):
        glow_prior.train("glow", str(tmp_path), depth=0)


def python_blocks(path):
    """The ```python blocks of a markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def _run_blocks(blocks, cwd, data_dir):
    script = cwd / "blocks.py"
    script.write_text("\n".join(blocks))
    env = dict(os.environ, TFDS_DATA_DIR=data_dir)
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=900, check=False)


@pytest.mark.slow
def test_the_tutorial_runs_as_written(prepared_data_dir, tmp_path):
    blocks = python_blocks(REPO / "docs" / "tutorial.md")
    assert len(blocks) >= 5
    result = _run_blocks(blocks, tmp_path, prepared_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "AUROC, log-likelihood" in result.stdout
    assert (tmp_path / "runs" / "tutorial" / "samples_from_python.png").exists()
    assert (tmp_path / "runs" / "tutorial" / "detectors" / "typicality" / "detector.json").exists()


def test_the_readme_python_api_section_runs_as_written(trained_runs, prepared_data_dir,
                                                       tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    section = section[:section.index("\n## ", 5)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    # The section loads the main experiment's mixture-prior Glow; a tiny run stands in.
    shutil.copytree(trained_runs["glow"], tmp_path / "runs" / "fmnist17_mnist_cpu" / "multi")
    result = _run_blocks(blocks, tmp_path, prepared_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
