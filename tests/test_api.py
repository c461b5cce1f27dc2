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
from glow_prior.config import GlowConfig
from glow_prior.errors import InputError
from tests.conftest import REPO

KINDS = ["glow", "realnvp", "vae", "tabular", "openai"]


def _examples(model, shape, seed=0):
    rng = np.random.default_rng(seed)
    if model.dtype == tf.uint8:
        return rng.integers(0, 256, (*shape, *model.example_shape)).astype(np.uint8)
    return rng.normal(size=(*shape, *model.example_shape)).astype(np.float32)


@pytest.mark.slow
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


@pytest.mark.slow
def test_load_in_float64(trained_runs):
    model = glow_prior.load(trained_runs["glow"], dtype="float64")
    x = _examples(model, (4,))
    assert model.log_prob(x).dtype == tf.float64
    np.testing.assert_allclose(model.log_prob(x), glow_prior.load(trained_runs["glow"])
                               .log_prob(x), rtol=1e-5)
    with pytest.raises(InputError, match="float32 or float64"):
        glow_prior.load(trained_runs["glow"], dtype="float16")


def test_train_refuses_unknown_models_and_bad_settings(tmp_path):
    images = np.zeros((8, 4, 4, 1), np.uint8)
    with pytest.raises(InputError, match="not a model's settings"):
        glow_prior.train("pixelcnn", str(tmp_path), images)
    with pytest.raises(InputError, match="depth"):
        GlowConfig(depth=0)


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


@pytest.mark.slow
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


FROM_PYTHON = r"""
import sys
import numpy as np
import tensorflow as tf
import glow_prior
from glow_prior.config import GlowConfig, PriorConfig, TabularFlowConfig, TrainConfig

logdir = sys.argv[1]
rng = np.random.default_rng(0)
# Images no named data set provides: two classes of 8x8 blobs, and stripes as OOD.
base = np.zeros((96, 8, 8, 1), np.uint8)
base[:48, 2:6, 2:6] = 200
base[48:, 1:3, :] = 150
images = np.clip(base + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)
labels = np.repeat([0, 1], 48)
stripes = np.zeros((32, 8, 8, 1), np.uint8)
stripes[:, :, ::2] = 255
glow = GlowConfig(n_levels=2, depth=1, width=8, flow_coupling=1)
prior = PriorConfig(kind="gaussian_mixture", n_components=2, distance=20.0)
short = TrainConfig(epochs=1, n_batch_train=16, n_batch_init=32, epochs_warmup=1, n_sample=0)
first = glow_prior.train(glow, logdir + "/glow", images, labels=labels, test_data=images[:32],
                         prior=prior, training=short, show_progress=False)
resumed = glow_prior.train(glow, logdir + "/glow", images, labels=labels,
                           test_data=images[:32], prior=prior,
                           training=short.replace(epochs=2), show_progress=False)
assert (first["epoch"], resumed["epoch"]) == (1, 2), (first, resumed)
assert resumed["step"] == 2 * first["step"]
model = glow_prior.load(logdir + "/glow")
assert model.run_spec.data.fingerprint and model.run_spec.prior == prior
log_likelihood = model.log_prob(images[:4]).numpy()
assert log_likelihood.shape == (4,) and np.all(np.isfinite(log_likelihood))
result = glow_prior.evaluate(model, images, {"stripes": stripes},
                             scores=["log_likelihood", "typicality"])
print("AUROC", result.auroc("log_likelihood", "stripes"))
detector = glow_prior.fit_detector(model, images[:48], images[48:], score="typicality")
glow_prior.save_detector(detector, logdir + "/glow/detectors/typicality", logdir + "/glow")
loaded = glow_prior.load_detector(logdir + "/glow/detectors/typicality")
flags = loaded.predict(stripes)["data"]["is_outlier"]
assert flags.shape == (32,)
print("flagged", flags.mean())

vectors = rng.normal(size=(300, 4)).astype(np.float64)  # float64: converted to float32
tabular = TabularFlowConfig(n_couplings=2, hidden_units=8)
quick = TrainConfig(epochs=1, n_batch_train=50, optimizer="adam", n_sample=0)
glow_prior.train(tabular, logdir + "/tab", vectors, test_data=vectors[:50], training=quick,
                 show_progress=False)
glow_prior.train(tabular, logdir + "/tab", vectors, test_data=vectors[:50],
                 training=quick.replace(epochs=2), show_progress=False)
flow = glow_prior.load(logdir + "/tab")
assert flow.log_prob(vectors[:3]).dtype == tf.float32
result = glow_prior.evaluate(flow, vectors, {"far": vectors[:100] * 5.0 + 3.0})
detector = glow_prior.fit_detector(flow, vectors[:150], vectors[150:])
print("tabular flagged", detector.predict(vectors[:100] * 5.0 + 3.0)["data"]["is_outlier"].mean())
assert not [m for m in sys.modules if m.startswith("glow_prior.apps")], "the command line"
print("done")
"""


@pytest.mark.slow
def test_train_resume_load_score_and_detect_from_python(tmp_path):
    """Issue 26's acceptance: in a fresh process, without the command line (no module of
    glow_prior.apps is imported), a Glow from GlowConfig on uint8 images and a tabular flow
    on float vectors are trained, resumed, loaded, scored and given a detector."""
    script = tmp_path / "from_python.py"
    script.write_text(FROM_PYTHON)
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "done" in result.stdout
    lines = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert float(lines["AUROC"]) > 0.9, result.stdout  # stripes are far from the blobs
    assert float(lines["flagged"]) > 0.9, result.stdout
    assert float(lines["tabular flagged"]) > 0.9, result.stdout
