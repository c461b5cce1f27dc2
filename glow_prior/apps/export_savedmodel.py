"""Exports a trained model (Glow, RealNVP, VAE, tabular flow) as a TensorFlow SavedModel.

    export_savedmodel --logdir=DIR --export_dir=OUT

Signatures: log_prob, log_prob_float (images), log_prob_per_component (mixture priors),
statistics, encode, decode, sample(count, seed, temperature); see glow_prior/export.py.
Load with tf.saved_model.load(OUT).signatures["log_prob"](images=x). For TensorFlow
Serving, export into a numbered version folder (--export_dir=models/glow/1).
"""
import dataclasses
import sys

from glow_prior import cli
from glow_prior.config import Config, option


@dataclasses.dataclass(frozen=True)
class ExportOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    export_dir: str = option(None, "Output folder of the SavedModel.", required=True)
    use_polyak: bool = option(False, "Export the Polyak-averaged weights.")
    seed: int = option(0, "Seed of the VAE's importance sampling in log_prob.")


def run(args):
    from glow_prior import export  # TensorFlow loads here
    from glow_prior.models.registry import load_model
    options = args.export
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    signatures = export.export(model, spec, options.export_dir, options.seed)
    print(f"SavedModel with signatures {', '.join(signatures)} -> {options.export_dir}")


APP = cli.App("export_savedmodel", __doc__, {"export": ExportOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
