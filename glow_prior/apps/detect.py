"""Applies a fitted OOD detector (fit_detector) to images.

    detect --detector=RUN/detectors/typicality --images=IN.npz --output=OUT.npz

IN.npz holds `x` (uint8 images [N, H, W, C], or float vectors for tabular runs; `y` labels
for class-conditional models). OUT.npz gets alibi-detect's fields: `instance_score` (the
outlier score, higher = more outlying: the negated glow_prior score) and `is_outlier`
(instance_score > the detector's threshold); the threshold and the settings are printed.
"""
import sys

from glow_prior.apps import cli
from glow_prior.config.evaluation import DetectOptions


def run(args):
    """Applies the detector to the image file (glow_prior.api.detect_file)."""
    from glow_prior import api  # TensorFlow loads here
    print(api.detect_file(args.detect))


APP = cli.App("detect", __doc__, {"detect": DetectOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
