"""Figures of Kirichenko et al. (2020) for a trained image flow (Glow or RealNVP).

    visualize --logdir=DIR --ood_dataset=mnist [--output_dir=DIR/visualize]

Writes latents.png (images and their unsqueezed latents, averaged over dequantisation
draws), couplings.png (each coupling's output and its s and t maps, in- and
out-of-distribution image), jacobian.png (|dz_i/dx| of a central and an off-centre latent
coordinate), resample.png (central-square latents resampled and decoded) and samples.png.
"""
import dataclasses
import os
import sys

from glow_prior import cli
from glow_prior.config import Config, option


@dataclasses.dataclass(frozen=True)
class VisualizeOptions(Config):
    logdir: str = option(None, "Run directory of an image flow.", required=True)
    ood_dataset: str = option("mnist", "OOD dataset (tfds name, constant or noise).")
    data_dir: str = option(None, "tfds data_dir (overrides the run's).")
    output_dir: str = option(None, "Default: LOGDIR/visualize.")
    n_images: int = option(4, "Images per set.", lower=1)
    noise_draws: int = option(40, "Dequantisation draws averaged in latents.png.", lower=1)
    max_couplings: int = option(12, "Coupling layers shown in couplings.png.", lower=1)
    temperature: float = option(0.7, "Temperature of samples and resampled latents.",
                                lower=0.0)
    seed: int = option(0, "Seed.")


def run(args):
    from glow_prior import data, visualize  # TensorFlow loads here
    from glow_prior.errors import InputError
    from glow_prior.models.base import FLOW_TERMS, IMAGES
    from glow_prior.models.registry import load_model
    options = args.visualize
    model, spec = load_model(options.logdir)
    if not (model.supports(FLOW_TERMS) and model.supports(IMAGES)):
        raise InputError("visualize needs an image flow (Glow or RealNVP) run")
    _, test, ood = data.evaluation_sets(spec, [options.ood_dataset], options.data_dir)
    out = options.output_dir or os.path.join(options.logdir, "visualize")
    visualize.write_figures(model, test.x[:options.n_images],
                            ood[options.ood_dataset].x[:options.n_images],
                            options.ood_dataset, out, options.noise_draws,
                            options.max_couplings, options.temperature, options.seed)
    print(f"Figures in {out}")


APP = cli.App("visualize", __doc__, {"visualize": VisualizeOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
