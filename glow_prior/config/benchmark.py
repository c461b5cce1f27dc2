"""Settings of the benchmark binary (glow_prior.benchmark.measure)."""
import dataclasses

from glow_prior.config.fields import Config, option

MEASUREMENTS = ("ours_train", "ours_eval", "ours_loop", "tfp_glow_train", "tfp_glow_eval",
                "realnvp_train", "realnvp_loop")


@dataclasses.dataclass(frozen=True)
class BenchmarkOptions(Config):
    output: str = option("benchmark.json", "Where to write the JSON report.")
    image_size: int = option(32, "Square image side.", lower=4)
    channels: int = option(3, "Image channels.", lower=1)
    n_levels: int = option(3, "Levels (tfb.Glow's num_glow_blocks).", lower=1)
    depth: int = option(8, "Steps per level (num_steps_per_block).", lower=1)
    width: int = option(128, "Hidden channels of the coupling networks.", lower=1)
    batch: int = option(32, "Images per step.", lower=1)
    steps: int = option(30, "Timed steps per measurement (their median is reported).",
                        lower=1)
    warmup: int = option(3, "Untimed steps first (tracing, compilation).", lower=1)
    xla: str = option("both", "Measure without and/or with XLA.",
                      choices=("both", "off", "on"))
    measurements: tuple = option(MEASUREMENTS, "What to measure.", choices=MEASUREMENTS)
    mixed_precision: str = option("none", "Compute dtype of the convolutions in ours_train, "
                                  "ours_loop and realnvp_* (train_glow's --mixed_precision).",
                                  choices=("none", "bfloat16", "float16"))
    memory_depths: tuple = option((8, 16, 32), "Depths K of the memory-by-depth "
                                  "measurements (empty: none).", item=int)
    memory_widths: tuple = option((128, 512), "Widths of the memory-by-depth measurements.",
                                  item=int)
    memory_steps: int = option(3, "Timed steps per memory-by-depth measurement.", lower=1)
