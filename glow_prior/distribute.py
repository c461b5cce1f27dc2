"""tf.distribute strategies by name, and helpers for the replica-side training step.

* default: no distribution (one device);
* mirrored: MirroredStrategy over the local GPUs (or the given devices, e.g. logical CPUs);
* multi_worker: MultiWorkerMirroredStrategy, cluster taken from the TF_CONFIG variable;
* tpu: TPUStrategy on the TPU named by --tpu (or the local one).
"""
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name, devices=None, tpu=""):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy '{name}'; use one of {STRATEGIES}")


def all_replicas_true(flag):
    """Within a replica: True only if `flag` is True on every replica."""
    context = tf.distribute.get_replica_context()
    failures = context.all_reduce("SUM", 1.0 - tf.cast(flag, tf.float32))
    return tf.equal(failures, 0.0)
