"""RealNVP (Dinh et al. 2017) as used by Kirichenko et al. (2020), App. C and I.

mask "checkerboard" (the baseline), multi-scale: per scale, 3 checkerboard couplings
(parities 0, 1, 0), squeeze, 3 channel-wise couplings (0, 1, 0) and a split that factors out
half the channels (no learned prior); the last scale has 4 checkerboard couplings. The
st-networks' width doubles after every squeeze, as in flows_ood.

mask "horizontal" / "cycle" / "checkerboard_single": one scale of n_couplings couplings at
full resolution with horizontal masks (alternating parity), the cycle-mask (quadrants
(0->1), (1->2), (2->3), (3->0), repeated) or checkerboard masks: the fixed-size models of
their mask comparison (App. I.1).

Inputs pass through RealNVP's logit transform (logit_alpha > 0) first. The prior is any
glow_prior.models.priors.Prior over the flat latent (factored-out parts first, then the top).
"""
import numpy as np

from glow_prior.bijectors import masks
from glow_prior.bijectors.base import FlowChain, FlowContext
from glow_prior.bijectors.conditioners import ResNetST
from glow_prior.bijectors.couplings import Coupling, MaskPair, TanhScale
from glow_prior.bijectors.logit import LogitPreprocess
from glow_prior.bijectors.multiscale import MultiScaleFlow, SplitLevel, TopLatent
from glow_prior.bijectors.squeeze import Squeeze
from glow_prior.models.flow_model import FlowModel


class _Couplings:
    """Builds masked affine couplings with numbered scopes and a shared RNG."""

    def __init__(self, config, context):
        self.config = config
        self.context = context
        self.rng = np.random.RandomState(config.seed)
        self.count = 0

    def __call__(self, shape, mask_pair, width):
        scope = f"coupling{self.count}"
        self.count += 1
        st = ResNetST(f"{scope}/st", shape, width, self.config.st_blocks, self.rng,
                      self.context, self.config.bottleneck)
        return Coupling(MaskPair(*mask_pair), st, TanhScale(scope, [1, 1, 1, shape[-1]]),
                        name="masked_coupling")


def _multiscale_levels(config, couple):
    shape = tuple(config.image_shape)
    width = config.st_width
    levels, splits = [], []
    for scale in range(config.n_scales):
        last = scale == config.n_scales - 1
        parities = (0, 1, 0, 1) if last else (0, 1, 0)
        steps = [couple(shape, masks.checkerboard(shape, p), width) for p in parities]
        if not last:
            steps.append(Squeeze())
            shape = (shape[0] // 2, shape[1] // 2, shape[2] * 4)
            width *= 2
            steps += [couple(shape, masks.channelwise(shape, p), width) for p in (0, 1, 0)]
            splits.append(SplitLevel(f"realnvp/split{scale}", shape[2], couple.context,
                                     learned_prior=False))
            shape = (shape[0], shape[1], shape[2] // 2)
        levels.append(FlowChain(steps, name=f"scale{scale}", context=couple.context))
    return levels, splits, shape


def _single_scale_masks(config):
    shape = tuple(config.image_shape)
    if config.mask == "cycle":
        return masks.cycle_masks(shape, config.n_couplings)
    make = masks.horizontal if config.mask == "horizontal" else masks.checkerboard
    return [make(shape, i % 2) for i in range(config.n_couplings)]


def build_realnvp_flow(config, context):
    """The RealNVP bijector (multi-scale or single-scale masks, logit preprocessing) a
    RealNVPConfig describes."""
    couple = _Couplings(config, context)
    if config.mask == "checkerboard":
        levels, splits, top_shape = _multiscale_levels(config, couple)
    else:
        shape = tuple(config.image_shape)
        levels = [FlowChain([couple(shape, pair, config.st_width)
                             for pair in _single_scale_masks(config)], name="scale0",
                            context=context)]
        splits, top_shape = [], shape
    if config.logit_alpha > 0:
        first = levels[0]
        levels[0] = FlowChain([LogitPreprocess(config.logit_alpha), *first.steps],
                              name=first.name, context=context)
    top = TopLatent(top_shape, np.random.RandomState(config.seed), context)
    return MultiScaleFlow(config.image_shape, levels, splits, top, name="realnvp")


def build_realnvp(config, prior_fn, context=None, float_dtype="float32"):
    """A FlowModel for glow_prior.config.RealNVPConfig `config`."""
    context = context or FlowContext()
    flow = build_realnvp_flow(config, context)
    return FlowModel(flow, prior_fn(flow.latent_size), config.image_shape, context,
                     config.n_bits_x, float_dtype=float_dtype)
