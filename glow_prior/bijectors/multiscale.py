"""Multi-scale flows: levels of steps, factored-out halves, and the top latent.

OpenAI Glow's encoder (model.py codec/split2d/prior) is written here as one bijector from
an image x [H, W, C] to a flat latent eps [D] with a standard-normal base:

* a level is a FlowChain (squeeze, then K flow steps);
* between levels, `SplitLevel` factors out z2 = z[..., C/2:]. Glow's learned conditional
  prior N(z2; mean(z1), exp(logsd(z1))^2) (split2d_prior: conv2d_zeros, mean/logsd read
  interleaved 0::2 / 1::2) becomes the affine bijector eps = (z2 - mean) / exp(logsd) with
  log|det J| = -sum logsd, so that log N(eps; 0, I) - sum logsd = log p(z2 | z1) exactly.
  Without a learned prior (RealNVP) eps = z2;
* `TopLatent` handles the last level's output: optionally the three extra invertible 1x1
  convolutions over height, width and channels of Kamoi et al. (2019, Listing 1), then
  optionally Glow's learned top prior (learntop: conv2d_zeros over zeros, mean/logsd read as
  halves [..., :C] / [..., C:]; ycond: plus linear_zeros(onehot(y))), again written as
  eps = (z - mean) / exp(logsd).

The flat latent concatenates [eps_level0, eps_level1, ..., eps_top], each flattened in
(H, W, C) row-major order: the layout of OpenAI's `encode`. With a standard-normal base this
reproduces OpenAI's objective; with a mixture prior the mixture is over this vector.
"""
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, sum_except_batch
from glow_prior.bijectors.layers import Conv2dZeros, LinearZeros
from glow_prior.bijectors.permutations import AxisInvertible1x1Conv, Invertible1x1Conv


def _flatten(x):
    return tf.reshape(x, [tf.shape(x)[0], -1])


class SplitLevel(tf.Module):
    """Factors out z2 = z[..., C/2:]; with `learned_prior`, standardises it given z1."""

    def __init__(self, scope, channels, learned_prior=True):
        super().__init__(name=None)
        half = channels // 2
        self.conv = Conv2dZeros(f"{scope}/conv", half, 2 * (channels - half)) \
            if learned_prior else None

    def _mean_logsd(self, z1):
        h = self.conv(z1)
        return h[..., 0::2], h[..., 1::2]

    def split(self, z):
        """z -> (z1 kept, eps factored out, log|det|)."""
        half = z.shape[-1] // 2
        z1, z2 = z[..., :half], z[..., half:]
        if self.conv is None:
            return z1, z2, tf.zeros([tf.shape(z)[0]], z.dtype)
        mean, logsd = self._mean_logsd(z1)
        return z1, (z2 - mean) * tf.exp(-logsd), -sum_except_batch(logsd)

    def merge(self, z1, eps):
        """Inverse of split: (z1, eps) -> (z, log|det| of the inverse map)."""
        if self.conv is None:
            return tf.concat([z1, eps], axis=-1), tf.zeros([tf.shape(z1)[0]], z1.dtype)
        mean, logsd = self._mean_logsd(z1)
        z2 = mean + tf.exp(logsd) * eps
        return tf.concat([z1, z2], axis=-1), sum_except_batch(logsd)


class TopLatent(FlowBijector):
    """Last level's output -> top eps: three-axis 1x1 convs and/or Glow's learned prior."""

    def __init__(self, shape, rng, three_axis_1x1=False, learntop=False, ycond=False, n_y=1,
                 lu=False, scope="model"):
        super().__init__(name="top_latent")
        height, width, channels = shape
        self.axis_convs = [
            AxisInvertible1x1Conv(f"{scope}/invconv1", height, 1, rng, lu=lu),
            AxisInvertible1x1Conv(f"{scope}/invconv2", width, 2, rng, lu=lu),
            Invertible1x1Conv(f"{scope}/invconv3", channels, rng, lu=lu),
        ] if three_axis_1x1 else []
        self.shape = tuple(shape)
        self.n_y = n_y
        self.learntop = learntop
        self.prior_conv = Conv2dZeros(f"{scope}/prior/p", 2 * channels, 2 * channels) \
            if learntop else None
        self.y_emb = LinearZeros(f"{scope}/prior/y_emb", n_y, 2 * channels) if ycond else None

    @property
    def learned_prior(self):
        return self.prior_conv is not None or self.y_emb is not None

    def _mean_logsd(self, batch, y):
        channels = self.shape[-1]
        h = tf.zeros([batch, *self.shape[:2], 2 * channels])
        if self.prior_conv is not None:
            h = self.prior_conv(h)
        if self.y_emb is not None:
            if y is None:
                raise ValueError("this model is class-conditional (ycond): pass labels y")
            onehot = tf.one_hot(tf.cast(y, tf.int32), self.n_y)
            h += tf.reshape(self.y_emb(onehot), [-1, 1, 1, 2 * channels])
        return h[..., :channels], h[..., channels:]

    def pre_prior(self, x):
        """Output of the three-axis convolutions (OpenAI's z_top) and their log|det|."""
        log_det = tf.zeros([tf.shape(x)[0]], x.dtype)
        for conv in self.axis_convs:
            x, step_log_det = conv.forward_and_log_det(x)
            log_det += step_log_det
        return x, log_det

    def encode(self, x, y=None):
        """(top eps, z_top before the learned prior, log|det|)."""
        z_top, log_det = self.pre_prior(x)
        if not self.learned_prior:
            return z_top, z_top, log_det
        mean, logsd = self._mean_logsd(tf.shape(z_top)[0], y)
        return (z_top - mean) * tf.exp(-logsd), z_top, log_det - sum_except_batch(logsd)

    def forward_and_log_det(self, x, y=None):
        eps, _, log_det = self.encode(x, y)
        return eps, log_det

    def inverse_and_log_det(self, eps, y=None):
        log_det = tf.zeros([tf.shape(eps)[0]], eps.dtype)
        z = eps
        if self.learned_prior:
            mean, logsd = self._mean_logsd(tf.shape(eps)[0], y)
            z = mean + tf.exp(logsd) * eps
            log_det += sum_except_batch(logsd)
        for conv in reversed(self.axis_convs):
            z, step_log_det = conv.inverse_and_log_det(z)
            log_det += step_log_det
        return z, log_det


class MultiScaleFlow(FlowBijector):
    """Image [H, W, C] -> flat latent [D] through levels, splits and the top latent.

    levels: FlowChains; splits: one SplitLevel (or None) after each level but the last;
    top: a TopLatent. `latent_shapes` lists the shapes of the flattened parts in order.
    """

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

    def encode(self, x, y=None):
        """(list of latent parts [B, h, w, c], z_top before any learned prior, log|det|)."""
        log_det = tf.zeros([tf.shape(x)[0]], x.dtype)
        parts = []
        z = x
        for level, split in zip(self.levels, self.splits + [None]):
            z, level_log_det = level.forward_and_log_det(z)
            log_det += level_log_det
            if split is not None:
                z, eps, split_log_det = split.split(z)
                parts.append(eps)
                log_det += split_log_det
        eps, z_top, top_log_det = self.top.encode(z, y)
        parts.append(eps)
        return parts, z_top, log_det + top_log_det

    def forward_and_log_det(self, x, y=None):
        parts, _, log_det = self.encode(x, y)
        return tf.concat([_flatten(p) for p in parts], axis=-1), log_det

    def unflatten(self, z):
        """Flat latent [B, D] -> list of latent parts [B, h, w, c]."""
        sizes = [h * w * c for h, w, c in self.latent_shapes]
        pieces = tf.split(z, sizes, axis=-1)
        return [tf.reshape(p, [-1, *shape]) for p, shape in zip(pieces, self.latent_shapes)]

    def inverse_and_log_det(self, z, y=None):
        parts = self.unflatten(z)
        x, log_det = self.top.inverse_and_log_det(parts[-1], y)
        factored_out = iter(reversed(parts[:-1]))
        for level, split in reversed(list(zip(self.levels, self.splits + [None]))):
            if split is not None:
                x, split_log_det = split.merge(x, next(factored_out))
                log_det += split_log_det
            x, level_log_det = level.inverse_and_log_det(x)
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
