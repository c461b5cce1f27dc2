"""Figures of Kirichenko et al. (2020) for a trained image flow (Glow or RealNVP).

    visualize --logdir=DIR --ood_dataset=mnist [--output_dir=DIR/visualize]

Writes latents.png (images and their unsqueezed latents, averaged over dequantisation
draws), couplings.png (each coupling's output and its s and t maps, in- and
out-of-distribution image), jacobian.png (|dz_i/dx| of a central and an off-centre latent
coordinate), resample.png (central-square latents resampled and decoded) and samples.png.
"""
import sys

from glow_prior.apps import cli
from glow_prior.config.evaluation import VisualizeOptions


def run(args):
    """Writes the figures (glow_prior.api.visualize_run)."""
    from glow_prior import api  # TensorFlow loads here
    print(f"Figures in {api.visualize_run(args.visualize)}")


APP = cli.App("visualize", __doc__, {"visualize": VisualizeOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
