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

The settings are glow_prior.config.GlowConfig. Variables carry OpenAI's names:
model/{level}/{step}/..., model/pool{level}/conv/..., model/prior/p/...,
model/prior/y_emb/..., model/classifier/...; the three-axis convolutions are
model/invconv{1,2,3}/W.
"""
import numpy as np

from glow_prior.bijectors.actnorm import ActNorm
from glow_prior.bijectors.base import FlowChain, FlowContext
from glow_prior.bijectors.conditioners import GlowCouplingNet
from glow_prior.bijectors.couplings import ChannelHalves, Coupling, Shift, SigmoidScale
from glow_prior.bijectors.layers import LinearZeros
from glow_prior.bijectors.multiscale import MultiScaleFlow, SplitLevel, TopLatent
from glow_prior.bijectors.permutations import Invertible1x1Conv, ReverseChannels, ShuffleChannels
from glow_prior.bijectors.squeeze import Squeeze
from glow_prior.errors import InputError
from glow_prior.models.flow_model import FlowModel


def _permutation(config, scope, channels, rng):
    if config.flow_permutation == 0:
        return ReverseChannels()
    if config.flow_permutation == 1:
        return ShuffleChannels(scope, channels, rng)
    return Invertible1x1Conv(f"{scope}/invconv", channels, rng, lu=config.lu_decomposed)


def _coupling(config, scope, channels, rng, context):
    """OpenAI's revnet2d_step coupling: f1 reads the first half, changes the second."""
    half = channels // 2
    if config.flow_coupling == 0:
        net = GlowCouplingNet(f"{scope}/f1", half, config.width, channels - half, rng, context)
        return Coupling(ChannelHalves(), net, Shift(), name="additive_coupling")
    if channels % 2:
        raise InputError(f"affine coupling needs an even channel count, got {channels}")
    net = GlowCouplingNet(f"{scope}/f1", half, config.width, channels, rng, context,
                          interleaved_pairs=True)
    return Coupling(ChannelHalves(), net, SigmoidScale(config.scale_offset),
                    name="affine_coupling")


def flow_step(config, scope, channels, rng, context):
    """One Glow step: actnorm -> permutation -> coupling (OpenAI's revnet2d_step)."""
    return FlowChain([ActNorm(scope, channels, context),
                      _permutation(config, scope, channels, rng),
                      _coupling(config, scope, channels, rng, context)], name="flow_step")


def build_glow_flow(config, context):
    """The Glow bijector (levels, splits, top latent) a GlowConfig describes, its layers
    built with `context`."""
    rng = np.random.RandomState(config.seed)
    height, width, channels = config.image_shape
    levels, splits = [], []
    for level in range(config.n_levels):
        height, width, channels = height // 2, width // 2, channels * 4
        steps = [flow_step(config, f"model/{level}/{step}", channels, rng, context)
                 for step in range(config.depth)]
        levels.append(FlowChain([Squeeze()] + steps, name=f"level{level}", context=context))
        if level < config.n_levels - 1:
            split = config.multiscale
            splits.append(SplitLevel(f"model/pool{level}", channels, context)
                          if split else None)
            if split:
                channels //= 2
    top = TopLatent((height, width, channels), rng, context,
                    three_axis_1x1=config.three_axis_1x1, learntop=config.learntop,
                    ycond=config.ycond, n_y=config.n_y, lu=config.lu_decomposed)
    return MultiScaleFlow(config.image_shape, levels, splits, top)


def build_glow(config, prior_fn, context=None, float_dtype="float32"):
    """A FlowModel; `prior_fn(latent_size)` builds the prior over the flat latent."""
    context = context or FlowContext()
    flow = build_glow_flow(config, context)
    classifier = None
    if config.ycond and config.weight_y > 0:
        classifier = LinearZeros("model/classifier", flow.latent_shapes[-1][-1], config.n_y)
    return FlowModel(flow, prior_fn(flow.latent_size), config.image_shape, context,
                     config.n_bits_x, classifier, float_dtype)
