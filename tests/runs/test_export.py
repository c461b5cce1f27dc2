"""SavedModel export: a fresh process importing only tensorflow reproduces the model."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from glow_prior.runs import export
from glow_prior.models.batch import Batch
from glow_prior.config import (
    DataConfig,
    GlowConfig,
    PriorConfig,
    RunSpec,
    TabularDataConfig,
    TabularFlowConfig,
    TrainConfig,
    VAEConfig,
)
from glow_prior.data import load_train_test
from glow_prior.models.registry import build_model
from tests.conftest import randomize

CHECK = r"""
import json, sys
import numpy as np
import tensorflow as tf
results = {}


def call(loaded, signature, value):
    function = loaded.signatures[signature]
    (argument,) = function.structured_input_signature[1]
    return function(**{argument: tf.constant(value)})


for name in sys.argv[2:]:
    loaded = tf.saved_model.load(f"{sys.argv[1]}/{name}")
    data = np.load(f"{sys.argv[1]}/{name}.npz")
    x = data["x"]
    out = {"signatures": sorted(loaded.signatures)}
    out["log_prob"] = float(np.max(np.abs(
        call(loaded, "log_prob", x)["log_likelihood"].numpy() - data["log_likelihood"])))
    stats = call(loaded, "statistics", x)
    out["statistics"] = sorted(stats)
    out["statistics_log_likelihood"] = float(np.max(np.abs(
        stats["log_likelihood"].numpy() - data["log_likelihood"])))
    if "per_component" in data:
        got = call(loaded, "log_prob_per_component", x)["log_likelihood"].numpy()
        out["per_component"] = float(np.max(np.abs(got - data["per_component"])))
    if "latent" in data:
        out["encode"] = float(np.max(np.abs(call(loaded, "encode", x)["latent"].numpy()
                                            - data["latent"])))
    if "float_images" in data:
        got = call(loaded, "log_prob_float", data["float_images"])
        out["log_prob_float"] = float(np.max(np.abs(got["log_likelihood"].numpy()
                                                    - data["float_log_likelihood"])))
    samples = loaded.signatures["sample"](count=tf.constant(3), seed=tf.constant([1, 2], tf.int64),
                                          temperature=tf.constant(0.5))["samples"]
    out["sample_shape"] = list(samples.shape)
    out["serving_default"] = float(np.max(np.abs(
        call(loaded, "serving_default", x)["log_likelihood"].numpy() - data["log_likelihood"])))
    # Every signature on a batch of 0, and the static output shapes it declares.
    out["empty_batch"], out["static_shapes"] = {}, {}
    for signature in sorted(loaded.signatures):
        if signature == "sample":
            continue
        function = loaded.signatures[signature]
        (argument,) = function.structured_input_signature[1]
        spec = function.structured_input_signature[1][argument]
        empty = np.zeros([0, *spec.shape[1:]], spec.dtype.as_numpy_dtype)
        outputs = function(**{argument: tf.constant(empty)})
        out["empty_batch"][signature] = {k: list(v.shape) for k, v in outputs.items()}
        out["static_shapes"][signature] = {k: [d for d in v.shape]
                                           for k, v in function.structured_outputs.items()}
    if "log_prob_float" in loaded.signatures and "float_images" in data:
        bad = np.stack([data["float_images"][0]] * 4).astype(np.float32)
        bad[1, 0, 0, 0], bad[2, 0, 0, 0], bad[3, 0, 0, 0] = 1e6, -1.0, np.nan
        got = call(loaded, "log_prob_float", bad)
        out["float_domain"] = [bool(v) for v in got["in_domain"].numpy()]
        out["float_nan"] = [bool(v) for v in np.isnan(got["log_likelihood"].numpy())]
    results[name] = out
results["modules"] = sorted(m for m in sys.modules
                            if m.startswith(("glow_prior", "tensorflow_probability")))
print(json.dumps(results))
"""


def _spec(model, architecture, prior=PriorConfig(), data=DataConfig()):
    return RunSpec(model=model, architecture=architecture, prior=prior, data=data,
                   training=TrainConfig())


GLOW = _spec("glow", GlowConfig(image_shape=(8, 8, 1), n_levels=2, depth=2, width=8,
                                flow_coupling=1, scale_offset=0.1, multiscale=False,
                                three_axis_1x1=True),
             PriorConfig(kind="gaussian_mixture", distance=4.0))
TABULAR = _spec("tabular", TabularFlowConfig(num_dims=3, n_couplings=2, hidden_units=8),
                data=TabularDataConfig())
VAE = _spec("vae", VAEConfig(latent_dim=50, importance_samples=4))


@pytest.mark.slow
def test_savedmodel_round_trip_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    glow = build_model(GLOW)
    randomize(glow.flow, scale=0.05)
    images = rng.integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    noise = rng.uniform(0, 1 / 256, images.shape).astype(np.float32)
    tabular = build_model(TABULAR)
    randomize(tabular.flow, scale=0.1)
    vectors = rng.normal(size=(4, 3)).astype(np.float32)
    vae = build_model(VAE)
    vae_images = rng.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    expected = {
        "glow": dict(x=images, log_likelihood=glow.log_likelihood(images),
                     per_component=glow.log_prob_per_component(images),
                     latent=glow.encode(images),
                     float_images=images.astype(np.float32) + 256 * noise,
                     float_log_likelihood=glow.log_likelihood(images, noise)),
        "tabular": dict(x=vectors, log_likelihood=tabular.log_likelihood(vectors),
                        latent=tabular.encode(vectors)),
        "vae": dict(x=vae_images, log_likelihood=vae.log_prob(vae_images, seed=(0, 0))),
    }
    for name, model, spec in (("glow", glow, GLOW), ("tabular", tabular, TABULAR),
                              ("vae", vae, VAE)):
        signatures = export.export(model, spec, str(tmp_path / name))
        assert "log_prob" in signatures and "sample" in signatures
        np.savez(tmp_path / f"{name}.npz", **{k: np.asarray(v) for k, v in expected[name].items()})
    result = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path), "glow", "tabular", "vae"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] == []  # only tensorflow was needed
    glow_report = report["glow"]
    assert set(glow_report["signatures"]) == {"serving_default", "log_prob", "log_prob_float",
                                              "log_prob_per_component", "statistics",
                                              "ood_scores", "encode", "decode", "sample"}
    for name in ("glow", "tabular", "vae"):
        assert report[name]["serving_default"] < 1e-2, name
        for signature, shapes in report[name]["empty_batch"].items():
            assert all(shape[0] == 0 for shape in shapes.values()), (name, signature)
    # Outputs declare their shapes: [batch, D] latents, [batch] log-likelihoods.
    assert glow_report["static_shapes"]["encode"] == {"latent": [None, 64]}
    assert glow_report["static_shapes"]["serving_default"]["log_likelihood"] == [None]
    # Outside [0, 256) (1e6, -1, NaN) an image is out of the float signature's domain.
    assert glow_report["float_domain"] == [True, False, False, False]
    assert glow_report["float_nan"] == [False, True, True, True]
    # Same float32 graph in both processes: agreement to rounding (values ~ -200 nats).
    for key in ("log_prob", "per_component", "encode", "log_prob_float",
                "statistics_log_likelihood"):
        assert glow_report[key] < 1e-3, key
    assert glow_report["statistics"] == ["component_log_likelihood", "latent_norm",
                                         "log_det", "log_likelihood", "log_prior"]
    assert report["vae"]["statistics"] == ["elbo", "kl", "log_likelihood", "reconstruction"]
    assert glow_report["sample_shape"] == [3, 8, 8, 1]
    assert report["tabular"]["log_prob"] < 1e-4 and report["tabular"]["encode"] < 1e-5
    assert "log_prob_float" not in report["tabular"]["signatures"]
    assert report["tabular"]["sample_shape"] == [3, 3]
    assert report["vae"]["log_prob"] < 1e-2 and report["vae"]["sample_shape"] == [3, 28, 28, 1]
    # TensorFlow's own command line runs serving_default in a fresh process.
    np.save(tmp_path / "images.npy", images)
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"),
                             "run", "--dir", str(tmp_path / "glow"), "--tag_set", "serve",
                             "--signature_def", "serving_default",
                             "--inputs", f"images={tmp_path / 'images.npy'}",
                             "--outdir", str(tmp_path / "cli")],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "cli" / "log_likelihood.npy")
    np.testing.assert_allclose(served, expected["glow"]["log_likelihood"], atol=1e-3, rtol=0)
    assert np.load(tmp_path / "cli" / "bits_per_dim.npy").shape == (5,)


ROUND_TRIP = r"""
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])["x"]
latent = loaded.signatures["encode"](images=tf.constant(x))["latent"]
back = loaded.signatures["decode"](latent=latent)["images"].numpy()
print(json.dumps({"wrong_pixels": int((back != x).sum())}))
"""


@pytest.mark.slow
def test_decode_of_encode_is_exact_on_real_images(prepared_data_dir, tmp_path):
    """Issue 11.8: a trained-looking Glow (data-dependent init on real MNIST, perturbed
    weights) maps 7 real MNIST images back to themselves, pixel for pixel, in Python and
    through the exported encode/decode signatures in a fresh process."""
    _, test = load_train_test(DataConfig(dataset="mnist", data_dir=prepared_data_dir))
    x = test.x[:7]
    spec = _spec("glow", GlowConfig(n_levels=2, depth=4, width=32, flow_coupling=1,
                                    scale_offset=0.1, multiscale=False, three_axis_1x1=True)
                 .for_data((28, 28, 1), 10))
    model = build_model(spec)
    model.initialize(Batch(test.x[:256], noise=np.random.default_rng(0).uniform(
        0, 1 / 256, (256, 28, 28, 1)).astype(np.float32)))
    randomize(model.flow, scale=0.02)
    np.testing.assert_array_equal(model.decode(model.encode(x)).numpy(), x)
    export.export(model, spec, str(tmp_path / "glow"))
    np.savez(tmp_path / "x.npz", x=x)
    result = subprocess.run([sys.executable, "-c", ROUND_TRIP, str(tmp_path / "glow"),
                             str(tmp_path / "x.npz")], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"wrong_pixels": 0}
