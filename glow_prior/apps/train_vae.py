"""Trains the VAE of Kamoi et al. (2019) (their Tables 2/3) with a standard or mixture prior.

    train_vae --flagfile=configs/cpu/fmnist17_mnist_vae/multi.cfg --logdir=runs/vae

Training maximises the ELBO with each example's assigned prior component; test
log-likelihoods (score, evaluate_ood) are importance-sampled with the posterior as proposal
(--importance_samples, 5000 in the paper).
"""
import sys

from glow_prior.apps.common import training_app
from glow_prior.config import VAEConfig

APP = training_app("train_vae", __doc__, "vae", VAEConfig, negative=False)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
