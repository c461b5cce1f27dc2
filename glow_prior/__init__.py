"""glow_prior: Glow, RealNVP and VAEs with mixture priors for out-of-distribution studies.

The Python API is `glow_prior.load(logdir)` (a trained run's model, a TFP distribution) and
`glow_prior.train(model, logdir, **flags)`; both import TensorFlow when first called, so
`import glow_prior` stays light (the binaries parse their flags before TensorFlow loads).

Importing the package sets three TensorFlow runtime defaults (each only if the variable is
unset, and only effective when glow_prior is imported before TensorFlow):

* TF_CPP_MIN_LOG_LEVEL=2: TensorFlow's C++ INFO and WARNING lines are not printed;
* TF_ENABLE_ONEDNN_OPTS=1: oneDNN kernels on every x86 CPU (TensorFlow enables them by
  default on Intel CPUs only; on AMD CPUs they train Glow ~15-20% faster);
* TF_USE_LEGACY_KERAS=1: tf.keras is tf_keras (which the VAE uses) and Keras 3 is not
  imported (~80 MB less memory and ~2 s less start-up per process).
"""
import os

RUNTIME_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1",
                    "TF_USE_LEGACY_KERAS": "1"}

for _name, _value in RUNTIME_DEFAULTS.items():
    os.environ.setdefault(_name, _value)


def load(logdir, use_polyak=False, dtype="float32"):
    """The trained model of a run directory as a TFP distribution; see glow_prior.api.load."""
    from glow_prior import api  # pylint: disable=import-outside-toplevel
    return api.load(logdir, use_polyak=use_polyak, dtype=dtype)


def train(model, logdir, show_progress=True, **settings):
    """Trains `model` ("glow", "realnvp", "vae", "tabular") into `logdir` with the
    binary's flags as keywords; see glow_prior.api.train."""
    from glow_prior import api  # pylint: disable=import-outside-toplevel
    return api.train(model, logdir, show_progress=show_progress, **settings)
