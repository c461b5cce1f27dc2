"""glow_prior: Glow, RealNVP and VAEs with mixture priors for out-of-distribution studies."""
from setuptools import find_packages, setup

# The binaries: console scripts NAME = glow_prior.apps.NAME:main (bin/NAME is the same).
APPS = ("benchmark", "detect", "evaluate_ood", "export_savedmodel", "fit_detector",
        "import_openai_checkpoint", "prepare_data", "reproduce", "score", "train_glow",
        "train_realnvp", "train_tabular", "train_vae", "visualize")

setup(
    name="glow_prior",
    version="0.1.0",
    description=(
        "Normalizing flows and VAEs in TensorFlow 2 + TensorFlow Probability with "
        "mixture priors, for studying likelihood-based out-of-distribution detection."
    ),
    packages=find_packages(include=["glow_prior", "glow_prior.*"]),
    entry_points={"console_scripts": [f"{app} = glow_prior.apps.{app}:main" for app in APPS]},
    python_requires=">=3.10,<3.13",
    install_requires=[
        # The `tensorflow` wheel runs on CPU everywhere; install the `gpu` extra for CUDA.
        "tensorflow>=2.21,<2.22",
        "tensorflow-probability>=0.25,<0.26",
        "tf-keras>=2.21,<2.22",
        "tensorflow-datasets>=4.9.10,<5",
        # tensorflow-datasets 4.9.10 imports it while preparing data but does not declare it.
        "importlib_resources>=6",
        "numpy>=1.26,<3",
        "absl-py>=2.1",
        "matplotlib>=3.8",
        # PNG and lossless JPEG 2000 (OpenJPEG) compressors of the input-complexity score.
        "Pillow>=10",
        "scikit-learn>=1.4",
        # Bootstrap intervals, exact binomial intervals, DeLong's comparison in the tests.
        "scipy>=1.11",
        "tqdm>=4.66",
        "tensorboard>=2.19",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "test": ["pytest>=8"],
    },
)
