"""Multi-scale flows: levels of steps, factored-out halves, and the top latent.

OpenAI Glow's encoder (model.py codec/split2d/prior) is written here as one bijector from
an image x [H, W, C] to a flat latent eps [D] with a standard-normal base:

* a level is a FlowChain (squeeze, then K flow steps);
* between levels, `SplitLevel` factors out z2 = z[..., C/2:]. Glow's learned conditional
  prior N(z2; mean(z1), exp(logsd(z1))^2) (split2d_prior) becomes a coupling with the
  Standardize transform, eps = (z2 - mean) / exp(logsd), log|det J| = -sum logsd, so that
  log N(eps; 0, I) - sum logsd = log p(z2 | z1) exactly. Without a learned prior (RealNVP)
  eps = z2;
* `TopLatent` handles the last level's output: optionally the three extra invertible 1x1
  convolutions over height, width and channels of Kamoi et al. (2019, Listing 1), then
  optionally Glow's learned top prior (learntop / ycond), again a Standardize coupling.

The flat latent concatenates [eps_level0, eps_level1, ..., eps_top], each flattened in
(H, W, C) row-major order: the layout of OpenAI's `encode`. With a standard-normal base this
reproduces OpenAI's objective; with a mixture prior the mixture is over this vector.
`encode` also returns each level's share of log|det J| (its steps, its split, and for the
last level the top latent), the per-level decomposition of the log-likelihood.
"""
import math

import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, halves, zeros_like_batch
from glow_prior.bijectors.conditioners import SplitPrior, TopPrior
from glow_prior.bijectors.couplings import ChannelHalves, Coupling, Standardize, WholeTensor
from glow_prior.bijectors.permutations import AxisInvertible1x1Conv, Invertible1x1Conv


def _flatten(x):
    """[B, h, w, c] -> [B, h * w * c] with the size static (also for a batch of 0)."""
    return tf.reshape(x, [-1, math.prod(x.shape[1:])])


class SplitLevel(tf.Module):
    """Factors out z2 = z[..., C/2:]; with `learned_prior`, standardises it given z1."""

    def __init__(self, scope, channels, context, learned_prior=True):
        super().__init__(name=None)
        half = channels // 2
        self.prior = Coupling(ChannelHalves(), SplitPrior(scope, half,
                                                          2 * (channels - half), context),
                              Standardize(), name="split_prior") if learned_prior else None

    def split(self, z):
        """z [B, h, w, c] -> (z1 kept, eps factored out, log|det|)."""
        if self.prior is None:
            z1, z2 = halves(z)
            return z1, z2, zeros_like_batch(z)
        return self.prior.forward_parts(z)

    def merge(self, z1, eps):
        """Inverse of split: (z1, eps) -> (z, log|det| of the inverse map)."""
        if self.prior is None:
            return tf.concat([z1, eps], axis=-1), zeros_like_batch(z1)
        return self.prior.inverse_from_parts(z1, eps)


class TopLatent(FlowBijector):
    """Last level's output -> top eps: three-axis 1x1 convs and/or Glow's learned prior
    (which reads the labels of a class-conditional model)."""

    takes_labels = True

    def __init__(self, shape, rng, context, three_axis_1x1=False, learntop=False,
                 ycond=False, n_y=1, lu=False, scope="model"):
        super().__init__(name="top_latent")
        height, width, channels = shape
        self.axis_convs = [
            AxisInvertible1x1Conv(f"{scope}/invconv1", height, 1, rng, lu=lu),
            AxisInvertible1x1Conv(f"{scope}/invconv2", width, 2, rng, lu=lu),
            Invertible1x1Conv(f"{scope}/invconv3", channels, rng, lu=lu),
        ] if three_axis_1x1 else []
        self.shape = tuple(shape)
        self.prior = Coupling(WholeTensor(), TopPrior(shape, context, learntop, ycond, n_y,
                                                      scope), Standardize(),
                              name="top_prior") if learntop or ycond else None

    @property
    def class_conditional(self):
        """Whether the top prior reads class labels (Glow's ycond)."""
        return self.prior is not None and self.prior.conditioner.y_emb is not None

    @property
    def n_classes(self):
        """The number of classes of a class-conditional top prior, else None."""
        return self.prior.conditioner.n_y if self.class_conditional else None

    def pre_prior(self, x):
        """Output of the three-axis convolutions (OpenAI's z_top) and their log|det|
        (x with one batch axis)."""
        log_det = zeros_like_batch(x)
        for conv in self.axis_convs:
            x, step_log_det = conv.forward_flat(x)
            log_det += step_log_det
        return x, log_det

    def encode(self, x, labels=None):
        """(top eps, z_top before the learned prior, log|det|), x with one batch axis."""
        z_top, log_det = self.pre_prior(x)
        if self.prior is None:
            return z_top, z_top, log_det
        eps, prior_log_det = self.prior.forward_flat(z_top, labels)
        return eps, z_top, log_det + prior_log_det

    def forward_flat(self, x, labels=None):
        eps, _, log_det = self.encode(x, labels)
        return eps, log_det

    def inverse_flat(self, eps, labels=None):
        z, log_det = eps, zeros_like_batch(eps)
        if self.prior is not None:
            z, log_det = self.prior.inverse_flat(eps, labels)
        for conv in reversed(self.axis_convs):
            z, step_log_det = conv.inverse_flat(z)
            log_det += step_log_det
        return z, log_det


class MultiScaleFlow(FlowBijector):
    """Image [H, W, C] -> flat latent [D] through levels, splits and the top latent.

    levels: FlowChains; splits: one SplitLevel (or None) after each level but the last;
    top: a TopLatent. `latent_shapes` lists the shapes of the flattened parts in order.
    """

    takes_labels = True

    def __init__(self, image_shape, levels, splits, top, name="multiscale_flow"):
        super().__init__(name=name, forward_min_event_ndims=3, inverse_min_event_ndims=1)
        if len(splits) != len(levels) - 1:
            raise ValueError("need one split entry between each pair of levels")
        self.image_shape = tuple(image_shape)
        self.levels = list(levels)
        self.splits = list(splits)
        self.top = top
        self.latent_shapes = self._trace_shapes()
        self.latent_size = sum(h * w * c for h, w, c in self.latent_shapes)

    @property
    def class_conditional(self):
        """Whether the flow reads class labels (its top prior does)."""
        return self.top.class_conditional

    @property
    def n_classes(self):
        """The number of classes of a class-conditional flow, else None."""
        return self.top.n_classes

    def _trace_shapes(self):
        shape = tf.TensorShape(self.image_shape)
        parts = []
        for level, split in zip(self.levels, self.splits + [None]):
            shape = level.forward_event_shape(shape)
            if split is not None:
                half = shape[-1] // 2
                parts.append((shape[0], shape[1], shape[-1] - half))
                shape = tf.TensorShape([shape[0], shape[1], half])
        parts.append(tuple(shape.as_list()))
        return parts

    def encode(self, x, labels=None):
        """(latent parts [B, h, w, c] in order, z_top before any learned prior,
        [per-level log|det|]) for images x [B, H, W, C]: level k's share is its steps and
        its split; the last level's includes the top latent."""
        parts, level_log_dets = [], []
        z = x
        for level, split in zip(self.levels, self.splits + [None]):
            z, log_det = level.forward_flat(z)
            if split is not None:
                z, eps, split_log_det = split.split(z)
                parts.append(eps)
                log_det += split_log_det
            level_log_dets.append(log_det)
        eps, z_top, top_log_det = self.top.encode(z, labels)
        parts.append(eps)
        level_log_dets[-1] += top_log_det
        return parts, z_top, level_log_dets

    def forward_flat(self, x, labels=None):
        parts, _, level_log_dets = self.encode(x, labels)
        return tf.concat([_flatten(p) for p in parts], axis=-1), tf.add_n(level_log_dets)

    def unflatten(self, z):
        """Flat latent [B, D] -> list of latent parts [B, h, w, c]."""
        sizes = [h * w * c for h, w, c in self.latent_shapes]
        pieces = tf.split(z, sizes, axis=-1)
        return [tf.reshape(p, [-1, *shape]) for p, shape in zip(pieces, self.latent_shapes)]

    def inverse_flat(self, z, labels=None):
        parts = self.unflatten(z)
        x, log_det = self.top.inverse_flat(parts[-1], labels)
        factored_out = iter(reversed(parts[:-1]))
        for level, split in reversed(list(zip(self.levels, self.splits + [None]))):
            if split is not None:
                x, split_log_det = split.merge(x, next(factored_out))
                log_det += split_log_det
            x, level_log_det = level.inverse_flat(x)
            log_det += level_log_det
        return x, log_det

    def _forward_event_shape(self, input_shape):
        return tf.TensorShape([self.latent_size])

    def _inverse_event_shape(self, output_shape):
        return tf.TensorShape(self.image_shape)

    def _forward_event_shape_tensor(self, input_shape):
        return tf.constant([self.latent_size], tf.int32)

    def _inverse_event_shape_tensor(self, output_shape):
        return tf.constant(self.image_shape, tf.int32)
