"""Throughput and memory of the code users run, against TFP's tfb.Glow and a matmul ceiling.

Each measurement runs in its own process (`python -m glow_prior.benchmark.measure MEASUREMENT`), so
its peak resident memory (ru_maxrss) is its own:

* ours_train: `RunTrainer.train_step` (what train_glow runs each step: the objective, the
  finiteness checks, the optimizer and the Polyak update) on Glow at the benchmark's
  architecture (affine coupling, 1x1 convolutions, multi-scale);
* ours_eval: `scoring.score`, the batched log-likelihood evaluate_ood and score run;
* tfp_glow_train / tfp_glow_eval: -log_prob of TransformedDistribution(N(0, I), tfb.Glow)
  with its gradient and Adamax / the log-likelihood alone, at equal architecture (the same
  image shape, levels, steps per level and hidden width, affine coupling with a
  3x3 -> 1x1 -> 3x3 network, actnorm, invertible 1x1 convolutions, a factor-out of half
  the channels per level);
* realnvp_train: `RunTrainer.train_step` on the RealNVP of
  configs/cpu/baseline_auroc/realnvp_fmnist.cfg (28x28x1, batch 64);
* ours_loop / realnvp_loop: `RunTrainer.run`, the whole training loop of train_glow /
  train_realnvp (input pipeline, per-step Python, summaries, checkpoint), over one epoch at
  the same architecture and batch as ours_train / realnvp_train, its images/s as train.txt
  states it; `*_loop_fraction_of_step` compares the two;
* memory_by_depth: the training step's memory and images/s of Glows of depth K = 8, 16,
  32 (and the given levels, batch) at widths 128 and 512, with and without
  --gradient_checkpointing; `activation_mb` is what a step holds above the model,
  optimizer and Polyak state, counted by TensorFlow's allocator (see measure_memory).

`--mixed_precision` sets the compute dtype of ours_train, ours_loop and realnvp_* (the
TFP and eval measurements stay float32).

Images/s are the median over the timed steps (the machine's other load moves single
steps). A memory breakdown of the training process (RSS after importing TensorFlow,
building the model, tracing the step and the first step) is taken in ours_train. The matmul
reference times a dense float32 2048x2048 matmul in the same way, the ceiling for the
fraction of peak the training step reaches (its FLOPs counted by TF's profiler).
"""
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from glow_prior.models import scoring
from glow_prior.training.batches import TrainData
from glow_prior.config import (
    DataConfig,
    GlowConfig,
    PriorConfig,
    RealNVPConfig,
    RunConfig,
    RunSpec,
    TrainConfig,
)
from glow_prior.config.benchmark import MEASUREMENTS
from glow_prior.runs.rundir import RunDir
from glow_prior.runs.train import RunTrainer
from glow_prior.training.objectives import MaximumLikelihood

tfb, tfd = tfp.bijectors, tfp.distributions

def rss_mb():
    """This process's resident memory now, in MB (/proc/self/status VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb():
    """This process's peak resident memory so far, in MB (ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _images(shape, n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _trainer(model, architecture, batch, xla, logdir, gradient_checkpointing=False,
             steps=4, initialize=True, mixed_precision="none"):
    """A RunTrainer on random images (an epoch of `steps` steps) in `logdir`, initialised
    (data-dependent init) unless `initialize` is False (RunTrainer.run then does it)."""
    shape = architecture.image_shape
    config = TrainConfig(n_batch_train=batch, n_batch_init=batch, epochs=1, xla=xla,
                         n_sample=0, optimizer="adamax" if model == "glow" else "adam",
                         gradient_checkpointing=gradient_checkpointing,
                         mixed_precision=mixed_precision)
    spec = RunSpec(model=model, architecture=architecture, prior=PriorConfig(),
                   data=DataConfig(), training=config)
    trainer = RunTrainer(spec, RunDir(logdir), TrainData(_images(shape, steps * batch)),
                         RunConfig(logdir=logdir), MaximumLikelihood(),
                         tf.distribute.get_strategy(), show_progress=False)
    if initialize:
        trainer.model.initialize(trainer.stream.init_batch(batch))
    return trainer


def _timed(function, steps, warmup):
    """Median seconds per call of `function` (which returns something to block on)."""
    for _ in range(warmup):
        tf.nest.map_structure(np.asarray, function())
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        tf.nest.map_structure(np.asarray, function())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _training_flops(graph):
    """Floating-point operations of one training step, counted by TensorFlow's profiler on
    the step's graph."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def _glow_config(config):
    return GlowConfig(n_levels=config["n_levels"], depth=config["depth"],
                      width=config["width"], flow_coupling=1).for_data(
        (config["image_size"], config["image_size"], config["channels"]), 10)


def _measure_train(model, architecture, batch_size, config, xla):
    memory = {"after_import": rss_mb()}
    with tempfile.TemporaryDirectory() as logdir:
        trainer = _trainer(model, architecture, batch_size, xla, logdir,
                           mixed_precision=config.get("mixed_precision", "none"))
        memory["after_build"] = rss_mb()
        batch = next(iter(trainer.stream.dataset(1)))
        graph = trainer.step.compute_graph(batch)  # traces the step
        memory["after_trace"] = rss_mb()
        trainer.train_step(batch)
        memory["after_first_step"] = rss_mb()
        seconds = _timed(lambda: trainer.train_step(batch)[0]["loss"], config["steps"],
                         config["warmup"])
        result = {"images_per_s": batch_size / seconds, "seconds_per_step": seconds,
                  "memory_mb": memory}
        if not xla:
            result["flops_per_step"] = _training_flops(graph)
        return result


def _measure_loop(model, architecture, batch_size, config, xla):
    """images/s of Trainer.run, the whole loop the training binaries run (input pipeline,
    per-step Python, TensorBoard summaries, progress, checkpoint), over one epoch of
    3 x steps + 1 steps on random images, as its own record (train.txt) states it: the
    mean rate after the first step, which traces (the step measurements report medians,
    so the loop's epoch is longer for one-off costs to weigh as in real epochs)."""
    steps = 3 * config["steps"] + 1
    with tempfile.TemporaryDirectory() as logdir:
        trainer = _trainer(model, architecture, batch_size, xla, logdir, steps=steps,
                           initialize=False,
                           mixed_precision=config.get("mixed_precision", "none"))
        record = trainer.run()
        trainer.close()
    return {"images_per_s": record["images_per_s"], "steps": steps}


def measure_memory(config):
    """Memory and speed of the training step of a Glow of `config`'s depth and width (L
    levels, affine coupling, batch `batch`), with or without gradient checkpointing.

    Run under TensorFlow's BFC allocator on the CPU (TF_CPU_ALLOCATOR_USE_BFC, set by
    memory_by_depth), whose statistics count every tensor: `state_mb` is what the model,
    optimizer and Polyak copy hold between steps, `tensor_peak_mb` the most held at once
    during the timed steps (after the first, which traces) and `activation_mb` the
    difference, the memory a training step needs. Also reported: the peak RSS and
    `step_memory_mb`, the peak RSS minus the RSS once the model is built; these include
    graph construction (tracing a deep flow's backward graph costs hundreds of MB of
    Python and graph objects, more with the inversion's graph) and memory the allocator
    keeps, so they do not isolate the step."""
    with tempfile.TemporaryDirectory() as logdir:
        trainer = _trainer("glow", _glow_config(config), config["batch"], False, logdir,
                           config["gradient_checkpointing"])
        built = rss_mb()
        batch = next(iter(trainer.stream.dataset(1)))
        step = lambda: trainer.train_step(batch)[0]["loss"]  # noqa: E731
        tf.nest.map_structure(np.asarray, step())
        state = tf.config.experimental.get_memory_info("CPU:0")["current"]
        tf.config.experimental.reset_memory_stats("CPU:0")
        seconds = _timed(step, config["steps"], warmup=0)
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    megabyte, peak_rss = 2.0 ** 20, peak_rss_mb()
    return {"width": config["width"], "depth": config["depth"],
            "gradient_checkpointing": config["gradient_checkpointing"],
            "state_mb": state / megabyte, "tensor_peak_mb": peak / megabyte,
            "activation_mb": (peak - state) / megabyte, "peak_rss_mb": peak_rss,
            "step_memory_mb": peak_rss - built, "images_per_s": config["batch"] / seconds,
            "timed_steps": config["steps"]}


def _measure_eval(config, xla):
    del xla  # evaluate_ood's scoring path compiles without XLA
    architecture = _glow_config(config)
    with tempfile.TemporaryDirectory() as logdir:
        model = _trainer("glow", architecture, config["batch"], False, logdir).model
    images = _images(architecture.image_shape, config["batch"])
    seconds = _timed(lambda: scoring.score(model, images, config["batch"]).log_likelihood,
                     config["steps"], config["warmup"])
    return {"images_per_s": config["batch"] / seconds, "seconds_per_step": seconds}


def _tfp_glow(config):
    shape = (config["image_size"], config["image_size"], config["channels"])
    glow = tfb.Glow(output_shape=shape, num_glow_blocks=config["n_levels"],
                    num_steps_per_block=config["depth"],
                    coupling_bijector_fn=lambda s: tfb.GlowDefaultNetwork(
                        s, num_hidden=config["width"]),
                    exit_bijector_fn=tfb.GlowDefaultExitNetwork, seed=0)
    return tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), int(np.prod(shape))),
                                       glow)


def _measure_tfp(config, mode, xla):
    dist = _tfp_glow(config)
    x = _images((config["image_size"], config["image_size"], config["channels"]),
                config["batch"])
    x_in = tf.constant(x, tf.float32) / 256.0 - 0.5 + tf.random.uniform(x.shape, 0, 1 / 256)
    dist.log_prob(x_in)  # eager call: tfb.Glow's data-dependent actnorm init
    optimizer = tf_keras.optimizers.Adamax(1e-3)
    variables = dist.trainable_variables

    @tf.function(jit_compile=xla or None)
    def train():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(x_in))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function(jit_compile=xla or None)
    def evaluate():
        return dist.log_prob(x_in)

    seconds = _timed(train if mode == "train" else evaluate, config["steps"],
                     config["warmup"])
    return {"images_per_s": config["batch"] / seconds, "seconds_per_step": seconds}


def _realnvp_config(config):
    """The RealNVP and batch size of the baseline flagfile (the benchmark binary reads it
    and passes them as config["realnvp"])."""
    settings = config["realnvp"]
    return (RealNVPConfig.from_dict(settings["architecture"]).for_data((28, 28, 1)),
            settings["batch"])


def measure(name, config, xla):
    """One measurement (run in its own process)."""
    if name == "memory":
        return measure_memory(config)
    if name == "ours_train":
        result = _measure_train("glow", _glow_config(config), config["batch"], config, xla)
    elif name == "ours_eval":
        result = _measure_eval(config, xla)
    elif name == "ours_loop":
        result = _measure_loop("glow", _glow_config(config), config["batch"], config, xla)
    elif name == "realnvp_train":
        architecture, batch = _realnvp_config(config)
        result = _measure_train("realnvp", architecture, batch, config, xla)
    elif name == "realnvp_loop":
        architecture, batch = _realnvp_config(config)
        result = _measure_loop("realnvp", architecture, batch, config, xla)
    else:
        result = _measure_tfp(config, name.rsplit("_", 1)[1], xla)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def matmul_flops_per_s(size=2048, steps=20):
    """FLOP/s of a dense float32 size x size matmul (median of `steps`): the ceiling the
    training step is compared with."""
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    product = tf.function(tf.matmul)
    return 2.0 * size ** 3 / _timed(lambda: product(a, b), steps, warmup=3)


def _subprocess(name, config, xla, environment=None):
    command = [sys.executable, "-m", "glow_prior.benchmark.measure", name, str(int(xla)),
               json.dumps(config)]
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env=dict(os.environ, **(environment or {})))
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cpuinfo(info, key):
    """The first value of `key` in /proc/cpuinfo's text (e.g. "model name"), or ""."""
    return next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.split(":", 1)[0].strip() == key), "")


def machine():
    """The CPU (model name, family/model numbers: the model name alone does not tell AMD
    EPYC generations apart), its SIMD extensions and the software versions."""
    info = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            info = f.read()
    model = _cpuinfo(info, "model name") or platform.processor()
    simd = [f for f in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
            if f in _cpuinfo(info, "flags").split()]
    return {"cpu": model or platform.machine(), "cpu_count": os.cpu_count(),
            "cpu_family_model": f"{_cpuinfo(info, 'cpu family')}/{_cpuinfo(info, 'model')}",
            "simd": simd, "python": platform.python_version(), "tensorflow": tf.__version__,
            "tensorflow_probability": tfp.__version__,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
            "devices": [d.device_type for d in tf.config.list_physical_devices()]}


def run(config, xla_modes=(False, True), measurements=MEASUREMENTS, memory=None):
    """All measurements, each in its own process; returns the report dict. memory: {"depths",
    "widths", "steps"} of the memory-by-depth measurements (None: none)."""
    report = {"config": config, "machine": machine(),
              "matmul_flops_per_s": matmul_flops_per_s(), "measurements": {}}
    for xla in xla_modes:
        for name in measurements:
            key = name + ("_xla" if xla else "")
            print(f"measuring {key} ...", flush=True)
            report["measurements"][key] = _subprocess(name, config, xla)
    if memory:
        report["memory_by_depth"] = memory_by_depth(config, **memory)
    return summarize(report)


def memory_by_depth(config, depths, widths, steps):
    """[{width, depth, gradient_checkpointing, activation_mb, tensor_peak_mb, images_per_s,
    ...}]: the training step's memory and speed at each depth and width, with and without
    gradient checkpointing, each in its own process (`steps` timed steps after one)."""
    records = []
    for width in widths:
        for depth in depths:
            for checkpointing in (False, True):
                print(f"measuring memory: width {width}, depth {depth}, gradient "
                      f"checkpointing {'on' if checkpointing else 'off'} ...", flush=True)
                settings = dict(config, width=width, depth=depth, steps=steps,
                                gradient_checkpointing=checkpointing)
                records.append(_subprocess("memory", settings, False,
                                           {"TF_CPU_ALLOCATOR_USE_BFC": "true"}))
    return records


def summarize(report):
    """Adds the headline numbers and speed-ups to a report of measurements."""
    measurements = report["measurements"]
    for suffix in ("", "_xla"):
        for name in MEASUREMENTS:
            report[f"{name}_images_per_s{suffix}"] = measurements.get(
                name + suffix, {}).get("images_per_s")
        for mode in ("train", "eval"):
            ours = report.get(f"ours_{mode}_images_per_s{suffix}")
            theirs = report.get(f"tfp_glow_{mode}_images_per_s{suffix}")
            report[f"{mode}_speedup_vs_tfp_glow{suffix}"] = (ours / theirs if ours and theirs
                                                              else None)
    train = measurements.get("ours_train", {})
    flops = train.get("flops_per_step")
    batch = report["config"]["batch"]
    report["ours_train_flops_per_image"] = flops / batch if flops else None
    report["train_flops_fraction_of_matmul_peak"] = (
        flops / train["seconds_per_step"] / report["matmul_flops_per_s"] if flops else None)
    realnvp = measurements.get("realnvp_train", {})
    report["realnvp_train_flops_fraction_of_matmul_peak"] = (
        realnvp["flops_per_step"] / realnvp["seconds_per_step"] / report["matmul_flops_per_s"]
        if realnvp.get("flops_per_step") else None)
    for suffix in ("", "_xla"):
        for model, step in (("ours", "ours_train"), ("realnvp", "realnvp_train")):
            loop = measurements.get(f"{model}_loop{suffix}", {}).get("images_per_s")
            timed = measurements.get(step + suffix, {}).get("images_per_s")
            report[f"{model}_loop_fraction_of_step{suffix}"] = (loop / timed if loop and timed
                                                                else None)
    report["ours_train_peak_rss_mb"] = train.get("peak_rss_mb")
    report["ours_eval_peak_rss_mb"] = measurements.get("ours_eval", {}).get("peak_rss_mb")
    report["ours_train_memory_breakdown_mb"] = train.get("memory_mb")
    return report


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], json.loads(sys.argv[3]), bool(int(sys.argv[2])))))
