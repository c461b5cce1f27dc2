"""Scores images with a trained (or imported) model.

    score --logdir=DIR --images=IN.npz --output=OUT.npz [--dequantization=none|uniform]

IN.npz holds `x`, uint8 [N, H, W, C] (and `y` labels for class-conditional models).
OUT.npz gets `log_likelihood` (nats, OpenAI's convention: log p(x_in) - D log n_bins) and
`bits_per_dim` (= -log_likelihood / (D ln 2)), one per image. With
--dequantization=uniform the noise is drawn from --seed (deterministic).
"""
import dataclasses
import sys

from glow_prior import cli
from glow_prior.config import Config, option


@dataclasses.dataclass(frozen=True)
class ScoreOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    images: str = option(None, "Input .npz with uint8 images under key 'x'.", required=True)
    output: str = option(None, "Output .npz path.", required=True)
    dequantization: str = option("uniform", "none: x on its bin's lower edge; uniform: "
                                 "U[0, 1/n_bins) noise.", choices=("none", "uniform"))
    seed: int = option(0, "Seed of the dequantisation noise.")
    batch_size: int = option(64, "Images per batch.", lower=1)
    use_polyak: bool = option(False, "Score with the Polyak-averaged weights.")


def run(args):
    from glow_prior import evaluation, files  # TensorFlow loads here
    from glow_prior.data.preprocess import read_image_archive
    from glow_prior.models.registry import load_model
    options = args.score
    x, y = read_image_archive(options.images)
    model, _ = load_model(options.logdir, use_polyak=options.use_polyak)
    evaluation.check_inputs(model, x, y, f"images in {options.images}")
    scores = evaluation.score(model, x, options.batch_size, seed=options.seed,
                              dequantize=options.dequantization == "uniform", y=y)
    files.write_npz(options.output, log_likelihood=scores.log_likelihood,
                    bits_per_dim=scores.bits_per_dim)
    print(f"Scored {len(x)} images: mean {scores.bits_per_dim.mean():.4f} bits/dim -> "
          f"{options.output}")


APP = cli.App("score", __doc__, {"score": ScoreOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
