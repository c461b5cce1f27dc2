"""Throughput of our Glow against TFP's tfb.Glow at equal architecture, and a matmul reference.

Each measurement runs in its own process (python -m glow_prior.benchmark --measure=...),
so its peak resident memory (ru_maxrss) is its own. Measured per model, with XLA off/on:

* train: images/s of one optimizer step (Adamax): ours is the Trainer's step (the one-pass
  (z, log_det) encoder, plus the Polyak average); TFP's is -log_prob of
  TransformedDistribution(N(0, I), tfb.Glow) and its gradient;
* eval: images/s of the log-likelihood alone.

Equal architecture: the same image shape, levels, steps per level and hidden width; both
use affine coupling with a 3x3 -> 1x1 -> 3x3 coupling network, actnorm, invertible 1x1
convolutions and a factor-out of half the channels per level (tfb.Glow's default). The
matmul reference times a dense float32 matmul to give a FLOP/s ceiling for the fraction of
peak our training step reaches (its FLOPs counted by TF's profiler on the traced step).
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras
from tensorflow.python.profiler import model_analyzer, option_builder

from glow_prior import runs, training
from glow_prior.models.glow import GlowConfig, build_glow
from glow_prior.objectives import MaximumLikelihood
from glow_prior.priors import PriorConfig

tfb, tfd = tfp.bijectors, tfp.distributions


def _inputs(config):
    rng = np.random.default_rng(0)
    shape = (config["batch"], config["image_size"], config["image_size"], config["channels"])
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    noise = rng.uniform(0, 1 / 256, shape).astype(np.float32)
    return tf.constant(x), tf.constant(noise)


def _ours(config):
    glow = GlowConfig(image_shape=(config["image_size"], config["image_size"],
                                   config["channels"]), n_levels=config["n_levels"],
                      depth=config["depth"], width=config["width"], flow_coupling=1)
    return build_glow(glow, PriorConfig().build)


def _tfp_glow(config):
    shape = (config["image_size"], config["image_size"], config["channels"])
    glow = tfb.Glow(output_shape=shape, num_glow_blocks=config["n_levels"],
                    num_steps_per_block=config["depth"],
                    coupling_bijector_fn=lambda s: tfb.GlowDefaultNetwork(
                        s, num_hidden=config["width"]),
                    exit_bijector_fn=tfb.GlowDefaultExitNetwork, seed=0)
    return tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), int(np.prod(shape))),
                                       glow)


def _our_functions(config, xla):
    model = _ours(config)
    x, noise = _inputs(config)
    model.initialize(x, noise)
    train_config = training.TrainConfig(n_batch_train=config["batch"], xla=xla, epochs=1)
    optimizer, decay = training.make_optimizer(train_config, its_per_epoch=100)
    polyak = runs.PolyakAverage(model.trainable_variables)
    objective = MaximumLikelihood()
    variables = model.trainable_variables

    @tf.function(jit_compile=xla or None)
    def train(x, noise):
        with tf.GradientTape() as tape:
            loss, _ = objective(model, {"x": x, "noise": noise}, tf.constant([0, 0], tf.int64))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        polyak.update(decay)
        return loss

    @tf.function(jit_compile=xla or None)
    def evaluate(x, noise):
        return model.log_likelihood(x, noise)

    return train, evaluate, (x, noise)


def _tfp_functions(config, xla):
    dist = _tfp_glow(config)
    x, noise = _inputs(config)
    x_in = tf.cast(x, tf.float32) / 256.0 - 0.5 + noise
    dist.log_prob(x_in)  # eager call: tfb.Glow's data-dependent actnorm init
    optimizer = tf_keras.optimizers.Adamax(1e-3)
    variables = dist.trainable_variables

    @tf.function(jit_compile=xla or None)
    def train(x_in):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(x_in))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function(jit_compile=xla or None)
    def evaluate(x_in):
        return dist.log_prob(x_in)

    return train, evaluate, (x_in,)


def _training_flops(function, args):
    graph = function.get_concrete_function(*args).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return model_analyzer.profile(graph, options=options).total_float_ops


def _timed(function, args, steps, warmup):
    for _ in range(warmup):
        tf.nest.map_structure(lambda t: t.numpy(), function(*args))
    started = time.perf_counter()
    for _ in range(steps):
        tf.nest.map_structure(lambda t: t.numpy(), function(*args))
    return (time.perf_counter() - started) / steps


def measure(kind, mode, config, xla):
    """One measurement (run in its own process): images/s, peak RSS, FLOPs per step."""
    functions = _our_functions if kind == "ours" else _tfp_functions
    train, evaluate, args = functions(config, xla)
    function = train if mode == "train" else evaluate
    seconds = _timed(function, args, config["steps"], config["warmup"])
    result = {"images_per_s": config["batch"] / seconds, "seconds_per_step": seconds,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if kind == "ours" and mode == "train" and not xla:
        result["flops_per_step"] = _training_flops(train, args)
    return result


def matmul_flops_per_s(size=2048, steps=10):
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    product = tf.function(tf.matmul)
    seconds = _timed(product, (a, b), steps, warmup=2)
    return 2.0 * size ** 3 / seconds


def _subprocess(kind, mode, config, xla):
    command = [sys.executable, "-m", "glow_prior.benchmark", f"--measure={kind},{mode}",
               f"--xla={int(xla)}", f"--config={json.dumps(config)}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(config, xla_modes=(False, True)):
    """All measurements; returns the report dict."""
    report = {"config": config, "machine": {
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "tensorflow": tf.__version__, "tensorflow_probability": tfp.__version__,
        "devices": [d.device_type for d in tf.config.list_physical_devices()]}}
    report["matmul_flops_per_s"] = matmul_flops_per_s()
    measurements = {}
    for xla in xla_modes:
        for kind in ("ours", "tfp_glow"):
            for mode in ("train", "eval"):
                key = f"{kind}_{mode}" + ("_xla" if xla else "")
                print(f"measuring {key} ...", flush=True)
                measurements[key] = _subprocess(kind, mode, config, xla)
    report["measurements"] = measurements
    for suffix in ("", "_xla"):
        for mode in ("train", "eval"):
            for kind in ("ours", "tfp_glow"):
                value = measurements.get(f"{kind}_{mode}{suffix}", {}).get("images_per_s")
                report[f"{kind}_{mode}_images_per_s{suffix}"] = value
            ours = report[f"ours_{mode}_images_per_s{suffix}"]
            theirs = report[f"tfp_glow_{mode}_images_per_s{suffix}"]
            report[f"{mode}_speedup_vs_tfp_glow{suffix}"] = (ours / theirs if ours and theirs
                                                              else None)
    flops = measurements["ours_train"].get("flops_per_step")
    report["ours_train_flops_per_image"] = flops / config["batch"] if flops else None
    report["train_flops_fraction_of_matmul_peak"] = (
        flops / measurements["ours_train"]["seconds_per_step"] / report["matmul_flops_per_s"]
        if flops else None)
    report["targets"] = {"train_speedup_at_least": 1.5, "eval_speedup_at_least": 2.0}
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", required=True)
    parser.add_argument("--xla", type=int, default=0)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    kind, mode = args.measure.split(",")
    print(json.dumps(measure(kind, mode, json.loads(args.config), bool(args.xla))))


if __name__ == "__main__":
    main()
