"""Trains RealNVP (Kirichenko et al. 2020): multi-scale checkerboard/channel-wise, or one
scale with horizontal / cycle / checkerboard masks; optional st-network bottleneck and
negative training.

    train_realnvp --flagfile=configs/cpu/baseline_auroc/realnvp_fmnist.cfg --logdir=DIR
    train_realnvp ... --negative_dataset=mnist --negative_threshold=-30000
"""
import sys

from glow_prior.apps.common import training_app
from glow_prior.config import RealNVPConfig

APP = training_app("train_realnvp", __doc__, "realnvp", RealNVPConfig)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
