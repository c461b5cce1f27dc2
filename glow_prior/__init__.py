"""glow_prior: Glow, RealNVP and VAEs with mixture priors for out-of-distribution studies.

The Python API (glow_prior.api): `glow_prior.build(config, ...)` (a model, a TFP
distribution), `glow_prior.train(model, logdir, data, ...)` (on your arrays or a named
dataset, into a run directory), `glow_prior.load(logdir)`, `glow_prior.evaluate(model,
in_distribution, ood)` and `glow_prior.fit_detector(...)` / `save_detector` /
`load_detector`. They are imported on first use, so `import glow_prior` stays light (the
binaries parse their flags before TensorFlow loads).

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


# The Python API (glow_prior.api), imported on first use.
API = ("build", "evaluate", "fit_detector", "load", "load_detector", "save_detector", "train")


def __getattr__(name):
    if name in API:
        from glow_prior import api  # pylint: disable=import-outside-toplevel
        return getattr(api, name)
    raise AttributeError(f"module 'glow_prior' has no attribute '{name}'")


def __dir__():
    return sorted([*globals(), *API])
