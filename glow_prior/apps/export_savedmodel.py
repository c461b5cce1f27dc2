"""Exports a trained model (Glow, RealNVP, VAE, tabular flow) as a TensorFlow SavedModel.

    export_savedmodel --logdir=DIR --export_dir=OUT

Signatures: serving_default (= log_prob), log_prob, log_prob_float (images),
log_prob_per_component (mixture priors), statistics, ood_scores, detect (with --detector),
encode, decode, sample(count, seed, temperature); see glow_prior/export.py. Load with
tf.saved_model.load(OUT).signatures["log_prob"](images=x). For TensorFlow Serving, export
into a numbered version folder (--export_dir=models/glow/1). The export is written beside
OUT and renamed into place when complete; an existing OUT is refused unless --overwrite.
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
    detector: str = option("", "A detector folder (fit_detector) whose decision becomes the "
                           "`detect` signature (scores computable in the graph only).")
    overwrite: bool = option(False, "Replace an existing export in --export_dir.")


def run(args):
    from glow_prior import export  # TensorFlow loads here
    from glow_prior.models.registry import load_model
    from glow_prior.ood import Detector
    options = args.export
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    detector = None
    if options.detector:
        detector = Detector.load(options.detector, model, use_polyak=options.use_polyak)
    signatures = export.export(model, spec, options.export_dir, options.seed, detector,
                               options.overwrite)
    print(f"SavedModel with signatures {', '.join(signatures)} -> {options.export_dir}")


APP = cli.App("export_savedmodel", __doc__, {"export": ExportOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
