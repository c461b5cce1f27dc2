"""Training and evaluation throughput and memory of glow_prior against TFP's tfb.Glow.

    benchmark --output=benchmarks/cpu_2cores.json [--image_size=32 --n_levels=3 --depth=8 \
        --width=128 --batch=32]

Times the real training step (RunTrainer.train_step, what train_glow runs) and the real
scoring path (glow_prior.models.scoring.score, what evaluate_ood runs), tfb.Glow at equal
architecture,
the RealNVP of configs/cpu/baseline_auroc/realnvp_fmnist.cfg, and a dense matmul; each in
its own process, XLA off and/or on. Writes JSON (images/s, peak memory with a breakdown,
fraction of matmul peak, the machine) and prints a table. See glow_prior/benchmark/.
"""
import os
import sys

from glow_prior.apps import cli
from glow_prior.apps.flags import parse_flags
from glow_prior.config import RealNVPConfig
from glow_prior.config.benchmark import BenchmarkOptions
from glow_prior.config.common import CONFIGS_DIR
from glow_prior.config.run import training_sections
from glow_prior.tables import markdown_table

REALNVP_FLAGFILE = os.path.join(CONFIGS_DIR, "cpu", "baseline_auroc", "realnvp_fmnist.cfg")


def realnvp_settings(flagfile=REALNVP_FLAGFILE):
    """The RealNVP architecture and batch size of a train_realnvp flagfile, as JSON."""
    args = parse_flags(training_sections(RealNVPConfig), ["train_realnvp",
                                                          f"--flagfile={flagfile}"])
    return {"architecture": args.architecture.to_dict(), "batch": args.training.n_batch_train}


def _fmt(value, pattern="{:.1f}"):
    return "n/a" if value is None else pattern.format(value)


def run(args):
    """Runs the measurements in their own processes, writes the JSON and prints the tables."""
    from glow_prior import files  # TensorFlow loads here
    from glow_prior.benchmark import measure
    options = args.benchmark
    config = {k: getattr(options, k) for k in ("image_size", "channels", "n_levels", "depth",
                                                "width", "batch", "steps", "warmup",
                                                "mixed_precision")}
    config["realnvp"] = realnvp_settings()
    modes = {"both": (False, True), "off": (False,), "on": (True,)}[options.xla]
    memory = {"depths": options.memory_depths, "widths": options.memory_widths,
              "steps": options.memory_steps} if options.memory_depths else None
    report = measure.run(config, modes, options.measurements, memory)
    files.write_json(options.output, report)
    print("| XLA | mode | ours img/s | tfb.Glow img/s | speed-up | ours peak MB | "
          "tfb.Glow peak MB |")
    print("|---|---|---|---|---|---|---|")
    for xla in modes:
        suffix = "_xla" if xla else ""
        for mode in ("train", "eval"):
            ours = report["measurements"].get(f"ours_{mode}{suffix}", {})
            theirs = report["measurements"].get(f"tfp_glow_{mode}{suffix}", {})
            print(f"| {'on' if xla else 'off'} | {mode} | {_fmt(ours.get('images_per_s'))} | "
                  f"{_fmt(theirs.get('images_per_s'))} | "
                  f"{_fmt(report.get(f'{mode}_speedup_vs_tfp_glow{suffix}'), '{:.2f}x')} | "
                  f"{_fmt(ours.get('peak_rss_mb'), '{:.0f}')} | "
                  f"{_fmt(theirs.get('peak_rss_mb'), '{:.0f}')} |")
    print(f"RealNVP (28x28x1) training: {_fmt(report.get('realnvp_train_images_per_s'))} "
          "img/s")
    for model, label in (("ours", "Glow"), ("realnvp", "RealNVP")):
        print(f"{label} training loop (RunTrainer.run): "
              f"{_fmt(report.get(f'{model}_loop_images_per_s'))} img/s, "
              f"{_fmt(report.get(f'{model}_loop_fraction_of_step'), '{:.0%}')} of its step")
    print(f"matmul reference: {report['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s; training step "
          f"at {_fmt(report['train_flops_fraction_of_matmul_peak'], '{:.1%}')} of it")
    if report.get("memory_by_depth"):
        print("\n".join(markdown_table(
            ["width", "depth", "gradient checkpointing", "img/s", "state MB",
             "activation MB", "peak RSS MB", "step memory MB (RSS)"],
            [[r.get("width"), r.get("depth"), "on" if r.get("gradient_checkpointing") else
              "off", r.get("images_per_s"), r.get("state_mb"), r.get("activation_mb"),
              r.get("peak_rss_mb"), r.get("step_memory_mb")]
             if "error" not in r else [r["error"], "", "", "", "", "", "", ""]
             for r in report["memory_by_depth"]], digits=1)))
    print(f"-> {options.output}")


APP = cli.App("benchmark", __doc__, {"benchmark": BenchmarkOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
