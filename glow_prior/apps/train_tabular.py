"""Trains a RealNVP flow on vectors: synthetic mixtures, tabular data, image embeddings.

    train_tabular --flagfile=configs/cpu/synthetic_2d/multi.cfg --logdir=runs/syn2d

Datasets: synthetic_2d / synthetic_10d (Kamoi et al. 2019), breast_cancer (bundled with
scikit-learn), miniboone / hepmass (UCI files via --tabular_path), embeddings (.npz files).
Prior and training flags are those of train_glow.
"""
import sys

from glow_prior.apps.common import training_app
from glow_prior.config import TabularDataConfig, TabularFlowConfig

APP = training_app("train_tabular", __doc__, "tabular", TabularFlowConfig,
                   data=TabularDataConfig, negative=False)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
