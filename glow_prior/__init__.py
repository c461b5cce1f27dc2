"""glow_prior: Glow, RealNVP and VAEs with mixture priors for out-of-distribution studies.

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
