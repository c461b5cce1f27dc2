"""Exports a trained model (Glow, RealNVP, VAE, tabular flow) as a TensorFlow SavedModel.

    export_savedmodel --logdir=DIR --export_dir=OUT

Signatures: serving_default (= log_prob), log_prob, log_prob_float (images),
log_prob_per_component (mixture priors), statistics, ood_scores, detect (with --detector),
encode, decode, sample(count, seed, temperature); see glow_prior/export.py. Load with
tf.saved_model.load(OUT).signatures["log_prob"](images=x). For TensorFlow Serving, export
into a numbered version folder (--export_dir=models/glow/1). The export is written beside
OUT and renamed into place when complete; an existing OUT is refused unless --overwrite.
"""
import sys

from glow_prior.apps import cli
from glow_prior.config.export import ExportOptions


def run(args):
    """Exports the run's model (glow_prior.api.export_run)."""
    from glow_prior import api  # TensorFlow loads here
    signatures = api.export_run(args.export)
    print(f"SavedModel with signatures {', '.join(signatures)} -> {args.export.export_dir}")


APP = cli.App("export_savedmodel", __doc__, {"export": ExportOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
