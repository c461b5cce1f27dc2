"""Trains Glow (OpenAI's, or Kamoi et al.'s mixture-prior variant) on an image dataset.

    train_glow --flagfile=configs/cpu/fmnist17_mnist/multi.cfg --logdir=runs/glow

Flags follow openai/glow's train.py names (n_levels, depth, width, flow_permutation,
flow_coupling, learntop, ycond, n_bits_x, n_batch_train, lr, epochs_warmup, epochs,
optimizer, polyak_epochs, weight_y, restore_path, seed) plus data, prior and negative-training
flags. Rerunning with the same --logdir resumes from the newest checkpoint.
"""
import sys

from glow_prior.apps.common import training_app
from glow_prior.config import GlowConfig

APP = training_app("train_glow", __doc__, "glow", GlowConfig)
main = APP.main

if __name__ == "__main__":
    sys.exit(main())
