"""Glow (Kingma & Dhariwal 2018) as in openai/glow, with the variant of Kamoi et al. (2019).

Structure (openai/glow model.py): for each of n_levels levels, squeeze then `depth` steps of

    actnorm -> permutation (flow_permutation 0 reverse / 1 shuffle / 2 invertible 1x1 conv)
            -> coupling (flow_coupling 0 additive / 1 affine),

with, between levels, a split whose factored-out half gets a learned conditional prior
(multiscale=True, OpenAI) or no split at all (multiscale=False). On top: optional learned
prior (learntop), class-conditional prior (ycond) and, for the mixture-prior paper, three
extra invertible 1x1 convolutions over height, width and channels (three_axis_1x1).

Kamoi et al.'s Glow: multiscale=False, flow_coupling=1, scale_offset=0.1,
three_axis_1x1=True; for Fashion-MNIST n_levels=2, depth=16 (32 couplings, squeeze after
the 16th; OpenAI also squeezes before the first step), for CIFAR-10 n_levels=3, depth=8.

Variables carry OpenAI's names: model/{level}/{step}/..., model/pool{level}/conv/...,
model/prior/p/..., model/prior/y_emb/..., model/classifier/...; the three-axis convolutions
are model/invconv{1,2,3}/W.
"""
import dataclasses

import numpy as np

from glow_prior.bijectors.actnorm import ActNorm
from glow_prior.bijectors.base import FlowChain
from glow_prior.bijectors.coupling import AdditiveCoupling, AffineCoupling
from glow_prior.bijectors.layers import LinearZeros
from glow_prior.bijectors.multiscale import MultiScaleFlow, SplitLevel, TopLatent
from glow_prior.bijectors.permutations import (Invertible1x1Conv, ReverseChannels,
                                               ShuffleChannels)
from glow_prior.bijectors.squeeze import Squeeze
from glow_prior.models.flow_model import FlowModel


@dataclasses.dataclass(frozen=True)
class GlowConfig:
    """Glow hyperparameters; names and defaults follow openai/glow's train.py."""

    image_shape: tuple = (32, 32, 3)
    n_levels: int = 3
    depth: int = 32
    width: int = 512
    flow_permutation: int = 2
    flow_coupling: int = 0
    lu_decomposed: bool = False
    learntop: bool = False
    ycond: bool = False
    weight_y: float = 0.0
    n_y: int = 10
    n_bits_x: int = 8
    scale_offset: float = 0.0
    multiscale: bool = True
    three_axis_1x1: bool = False
    seed: int = 0

    def validate(self):
        height, width, _ = self.image_shape
        factor = 2 ** self.n_levels
        if height % factor or width % factor:
            raise ValueError(
                f"{height}x{width} images cannot be squeezed {self.n_levels} times "
                f"(n_levels={self.n_levels}): both sides must be divisible by {factor}")
        if self.flow_permutation not in (0, 1, 2):
            raise ValueError(f"flow_permutation must be 0, 1 or 2, got {self.flow_permutation}")
        if self.flow_coupling not in (0, 1):
            raise ValueError(f"flow_coupling must be 0 or 1, got {self.flow_coupling}")
        if self.depth < 1 or self.width < 1:
            raise ValueError("depth and width must be positive")
        if not 1 <= self.n_bits_x <= 8:
            raise ValueError(f"n_bits_x must be in 1..8, got {self.n_bits_x}")


def _permutation(config, scope, channels, rng):
    if config.flow_permutation == 0:
        return ReverseChannels()
    if config.flow_permutation == 1:
        return ShuffleChannels(scope, channels, rng)
    return Invertible1x1Conv(f"{scope}/invconv", channels, rng, lu=config.lu_decomposed)


def _coupling(config, scope, channels, rng):
    if config.flow_coupling == 0:
        return AdditiveCoupling(scope, channels, config.width, rng)
    return AffineCoupling(scope, channels, config.width, rng, config.scale_offset)


def flow_step(config, scope, channels, rng):
    """One Glow step: actnorm -> permutation -> coupling (OpenAI's revnet2d_step)."""
    return FlowChain([ActNorm(scope, channels), _permutation(config, scope, channels, rng),
                      _coupling(config, scope, channels, rng)], name="flow_step")


def build_glow_flow(config):
    config.validate()
    rng = np.random.RandomState(config.seed)
    height, width, channels = config.image_shape
    levels, splits = [], []
    for level in range(config.n_levels):
        height, width, channels = height // 2, width // 2, channels * 4
        steps = [flow_step(config, f"model/{level}/{step}", channels, rng)
                 for step in range(config.depth)]
        levels.append(FlowChain([Squeeze()] + steps, name=f"level{level}"))
        if level < config.n_levels - 1:
            split = config.multiscale
            splits.append(SplitLevel(f"model/pool{level}", channels) if split else None)
            if split:
                channels //= 2
    top = TopLatent((height, width, channels), rng, three_axis_1x1=config.three_axis_1x1,
                    learntop=config.learntop, ycond=config.ycond, n_y=config.n_y,
                    lu=config.lu_decomposed)
    return MultiScaleFlow(config.image_shape, levels, splits, top)


def build_glow(config, prior_fn):
    """A FlowModel; `prior_fn(latent_size)` builds the prior over the flat latent."""
    flow = build_glow_flow(config)
    classifier = None
    if config.ycond and config.weight_y > 0:
        classifier = LinearZeros("model/classifier", flow.latent_shapes[-1][-1], config.n_y)
    return FlowModel(flow, prior_fn(flow.latent_size), config.image_shape, config.n_bits_x,
                     classifier)
