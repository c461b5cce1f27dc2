"""Options that several configs share: one declaration each, so one default; and where the
shipped flagfiles are."""
import os

from glow_prior.config.fields import option

# configs/ beside the package: the flagfiles of every experiment (cpu/ and paper/).
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")


def seed_option(flag=None):
    """The shared --seed option (`flag`: another flag name for the same seed)."""
    return option(0, "Random seed (data order, noise, initialisation, subsets).", flag=flag)


def n_bits_option():
    """The shared --n_bits_x option (bits per pixel, 1..8)."""
    return option(8, "Bits per pixel.", lower=1, upper=8)


def threads_option():
    """The shared --threads option (TensorFlow's thread pools)."""
    return option(0, "TensorFlow's intra- and inter-op threads (0: one per core). reproduce "
                  "runs several trainings at once with 1 thread each, which uses small "
                  "models' cores better than one run with all of them.", lower=0)
