"""tf.distribute strategies by name.

* default: no distribution (one device);
* mirrored: MirroredStrategy over the local GPUs (or the given devices, e.g. logical CPUs);
* multi_worker: MultiWorkerMirroredStrategy, cluster taken from the TF_CONFIG variable
  (created before any other TensorFlow work, as collective ops require);
* tpu: TPUStrategy on the TPU the TPU_NAME environment variable names (or the local one).
"""
import tensorflow as tf

from glow_prior.config import STRATEGIES
from glow_prior.errors import InputError


def make_strategy(name, devices=None):
    """The tf.distribute strategy called `name` (see the module docstring), on `devices` for
    mirrored."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise InputError(f"unknown strategy '{name}'; use one of {STRATEGIES}")

