"""Scores images with a trained (or imported) model.

    score --logdir=DIR --images=IN.npz --output=OUT.npz [--dequantization=none|uniform]

IN.npz holds `x`, uint8 [N, H, W, C] (and `y` labels for class-conditional models).
OUT.npz gets `log_likelihood` (nats, OpenAI's convention: log p(x_in) - D log n_bins) and
`bits_per_dim` (= -log_likelihood / (D ln 2)), one per image. With
--dequantization=uniform the noise is drawn from --seed (deterministic).
"""
import sys

from glow_prior.apps import cli
from glow_prior.config.evaluation import ScoreFileOptions


def run(args):
    """Scores the image file (glow_prior.api.score_file)."""
    from glow_prior import api  # TensorFlow loads here
    print(api.score_file(args.score))


APP = cli.App("score", __doc__, {"score": ScoreFileOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
