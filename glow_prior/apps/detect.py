"""Applies a fitted OOD detector (fit_detector) to images.

    detect --detector=RUN/detectors/typicality --images=IN.npz --output=OUT.npz

IN.npz holds `x` (uint8 images [N, H, W, C], or float vectors for tabular runs; `y` labels
for class-conditional models). OUT.npz gets alibi-detect's fields: `instance_score` (the
outlier score, higher = more outlying: the negated glow_prior score) and `is_outlier`
(instance_score > the detector's threshold); the threshold and the settings are printed.
"""
import dataclasses
import sys

from glow_prior import cli
from glow_prior.config import Config, option
from glow_prior.config.common import threads_option


@dataclasses.dataclass(frozen=True)
class DetectOptions(Config):
    detector: str = option(None, "Detector folder written by fit_detector.", required=True)
    images: str = option(None, "Input .npz with the examples under key 'x'.", required=True)
    output: str = option(None, "Output .npz path.", required=True)
    use_polyak: bool = option(False, "Use the run's Polyak-averaged weights (as fitted).")
    threads: int = threads_option()


def run(args):
    from glow_prior import evaluation, files  # TensorFlow loads here
    from glow_prior.data.preprocess import read_image_archive
    from glow_prior.ood import Detector
    options = args.detect
    x, y = read_image_archive(options.images)
    detector = Detector.load(options.detector, use_polyak=options.use_polyak)
    evaluation.check_inputs(detector.model, x, y, f"examples in {options.images}")
    decision = detector.predict(x, y if detector.model.conditional else None)
    data = decision["data"]
    files.write_npz(options.output, **data)
    print(f"{int(data['is_outlier'].sum())} of {len(x)} flagged as outliers by "
          f"{decision['meta']['name']} (threshold {detector.threshold:.6g}, kept TPR "
          f"{detector.settings['tpr']}) -> {options.output}")


APP = cli.App("detect", __doc__, {"detect": DetectOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
