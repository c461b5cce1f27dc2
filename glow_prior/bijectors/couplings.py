"""Coupling layers composed of three parts: a partition, a conditioner, an inner transform.

    (x_c, x_t) = partition.split(x)
    h          = conditioner(x_c [, y])
    y_t        = transform(h)(x_t),   log|det J| = sum log_scale
    y          = partition.merge(x_c, y_t)

Partitions (which part conditions, which part changes):

* ChannelHalves: x_c = the first floor(C/2) channels, x_t the rest (Glow; RealNVP's
  channel-wise mask of parity 0);
* VectorHalves(parity): the same on feature vectors, either half conditioning (tabular
  RealNVP; alternating parities are flows_ood's alternating masks);
* WholeTensor: all of x changes, with parameters from labels or learned constants only
  (Glow's top prior);
* MaskPair(mask_in, mask_out): binary masks over [H, W, C]; x_c = x * mask_in, the whole x
  is transformed with parameters zeroed outside mask_out, so positions outside mask_out
  pass unchanged (RealNVP's checkerboard, channel-wise, horizontal and cycle masks,
  glow_prior.bijectors.masks). The masks must be disjoint, so the inverse recomputes the
  same parameters from y * mask_in.

Inner transforms (how h parameterises an elementwise map of x_t):

* Shift: y = x + h (Glow's additive coupling, flow_coupling=0);
* SigmoidScale(offset): h = [shift | raw] halves, scale = sigmoid(raw + 2) + offset,
  y = (x + shift) * scale (Glow's affine coupling, flow_coupling=1: OpenAI reads shift and
  raw interleaved, h[..., 0::2] / h[..., 1::2], which the conditioner emits as halves; Kamoi
  et al. (2019, App. B, after openai/glow issue #40) add offset 0.1, which bounds the scale
  below and keeps the reverse pass finite);
* TanhScale: h = [s_raw | t] halves, log_scale = scale * tanh(s_raw) with a learned
  per-channel `scale` variable, y = (x + t) * exp(log_scale) (RealNVP, Dinh et al. 2017);
* Standardize: h = [mean | logsd] halves, y = (x - mean) * exp(-logsd) (Glow's learned
  Gaussian priors as bijectors to standardised eps: log N(eps) - sum logsd = log N(x; mean,
  exp(logsd)) exactly).

Each transform returns a parameter object with forward/inverse (output, log|det|),
`log_scale()` and `shift_map()` (the map as y = (x + shift) * exp(log_scale)).
`Coupling.log_scale_and_shift(x)` exposes the (log-scale, shift) maps a coupling applies, at
the input's full size with zeros where nothing changes: the hook for Kirichenko et al.'s
coupling visualisations. Conditioners keep OpenAI's variable names (.../f1/..., .../conv/...,
model/prior/...), so OpenAI checkpoints import name by name.
"""
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, halves, like, sum_except_batch, zeros_like_batch
from glow_prior.bijectors.layers import variable
from glow_prior.errors import InputError


# ------------------------------------------------------------------------------ partitions
class Partition:
    """Which part of x conditions a coupling and which part it changes."""

    def split(self, x):
        """(conditioning part, part to change) of x."""
        raise NotImplementedError

    def merge(self, kept, changed):
        """The output from the conditioning part and the changed part."""
        raise NotImplementedError

    def restrict(self, params):
        """The transform's parameters restricted to the positions that change."""
        raise NotImplementedError

    def to_full(self, kept, changed_map):
        """A map over the changed part (a log-scale or a shift) at x's full size, zeros where
        nothing changes (what coupling visualisations draw)."""
        raise NotImplementedError


class ChannelHalves(Partition):
    """Condition on the first floor(C/2) channels, transform the rest."""

    def split(self, x):
        return halves(x)

    def merge(self, kept, changed):
        return tf.concat([kept, changed], axis=-1)

    def restrict(self, params):
        return params

    def to_full(self, kept, changed_map):
        return tf.concat([tf.zeros_like(kept), changed_map], axis=-1)


class VectorHalves(Partition):
    """Vectors [B, D]: parity 0 conditions on the first floor(D/2) features, 1 on the rest."""

    def __init__(self, num_dims, parity):
        if num_dims < 2:
            raise InputError("coupling layers need at least 2 features")
        self.sizes = [num_dims // 2, num_dims - num_dims // 2]
        self.parity = parity

    def split(self, x):
        first, second = tf.split(x, self.sizes, axis=-1)
        return (first, second) if self.parity == 0 else (second, first)

    def merge(self, kept, changed):
        parts = [kept, changed] if self.parity == 0 else [changed, kept]
        return tf.concat(parts, axis=-1)

    def restrict(self, params):
        return params

    def to_full(self, kept, changed_map):
        return self.merge(tf.zeros_like(kept), changed_map)

    @property
    def n_changed(self):
        """The number of features the coupling changes."""
        return self.sizes[1 - self.parity]

    @property
    def n_kept(self):
        """The number of features that condition it."""
        return self.sizes[self.parity]


class MaskPair(Partition):
    """Binary masks [H, W, C]: condition on x * mask_in, change only where mask_out is 1."""

    def __init__(self, mask_in, mask_out):
        if (mask_in * mask_out).any():
            raise InputError("mask_in and mask_out overlap: the coupling would not be "
                             "invertible")
        self.mask_in = tf.constant(mask_in[None], tf.float32)
        self.mask_out = tf.constant(mask_out[None], tf.float32)

    def split(self, x):
        return x * like(self.mask_in, x), x

    def merge(self, kept, changed):
        del kept  # positions outside mask_out are unchanged in `changed`
        return changed

    def restrict(self, params):
        return params.masked(like(self.mask_out, params.shift))

    def to_full(self, kept, changed_map):
        del kept
        return changed_map


class WholeTensor(Partition):
    """Transform all of x; the conditioner sees only the batch size (and labels): Glow's
    learned top prior."""

    def split(self, x):
        return x, x

    def merge(self, kept, changed):
        del kept
        return changed

    def restrict(self, params):
        return params

    def to_full(self, kept, changed_map):
        del kept
        return changed_map


# ------------------------------------------------------------------ elementwise transforms
class ElementwiseMap:
    """An elementwise map of the changed part, with its parameters from the conditioner."""

    def forward(self, x):
        """(y, log|det dy/dx| [B])."""
        raise NotImplementedError

    def inverse(self, y):
        """(x, log|det dx/dy| [B])."""
        raise NotImplementedError

    def log_scale(self):
        """The map's log-scale, elementwise (y = (x + shift) * exp(log_scale))."""
        raise NotImplementedError

    def shift_map(self):
        """The map's shift, elementwise (y = (x + shift) * exp(log_scale))."""
        raise NotImplementedError

    def masked(self, mask):
        """The same map where `mask` is 1, the identity where it is 0."""
        raise NotImplementedError


class ShiftParams(ElementwiseMap):
    """y = x + shift."""

    def __init__(self, shift):
        self.shift = shift

    def forward(self, x):
        return x + self.shift, zeros_like_batch(x)

    def inverse(self, y):
        return y - self.shift, zeros_like_batch(y)

    def log_scale(self):
        return tf.zeros_like(self.shift)

    def shift_map(self):
        return self.shift

    def masked(self, mask):
        return ShiftParams(self.shift * mask)


class ShiftScaleParams(ElementwiseMap):
    """y = (x + shift) * scale, log|det| = sum log_scale; scale = exp(log_scale) unless
    given (Glow's sigmoid scale is used as is)."""

    def __init__(self, shift, log_scale, scale=None):
        self.shift = shift
        self._log_scale = log_scale
        self.scale = tf.exp(log_scale) if scale is None else scale

    def forward(self, x):
        return (x + self.shift) * self.scale, sum_except_batch(self._log_scale)

    def inverse(self, y):
        return y / self.scale - self.shift, -sum_except_batch(self._log_scale)

    def log_scale(self):
        return self._log_scale

    def shift_map(self):
        return self.shift

    def masked(self, mask):
        return ShiftScaleParams(self.shift * mask, self._log_scale * mask)


class StandardizeParams(ElementwiseMap):
    """y = (x - mean) * exp(-logsd), log|det| = -sum logsd."""

    def __init__(self, mean, logsd):
        self.mean = mean
        self.logsd = logsd

    def forward(self, x):
        return (x - self.mean) * tf.exp(-self.logsd), -sum_except_batch(self.logsd)

    def inverse(self, y):
        return self.mean + tf.exp(self.logsd) * y, sum_except_batch(self.logsd)

    def log_scale(self):
        return -self.logsd

    def shift_map(self):
        return -self.mean


class Shift:
    """Glow's additive coupling: the conditioner's output is the shift."""

    def __call__(self, h):
        """The map of conditioner output h."""
        return ShiftParams(h)


class SigmoidScale:
    """Glow's affine coupling: h = [shift | raw], scale = sigmoid(raw + 2) + offset."""

    def __init__(self, offset=0.0):
        self.offset = float(offset)

    def __call__(self, h):
        """The map of conditioner output h."""
        shift, raw = halves(h)
        scale = tf.sigmoid(raw + 2.0) + self.offset
        return ShiftScaleParams(shift, tf.math.log(scale), scale)


class TanhScale(tf.Module):
    """log_scale = scale * tanh(s_raw), with `scale` a variable of `shape` (ones at init)."""

    def __init__(self, scope, shape):
        super().__init__(name=None)
        self.scale = variable(f"{scope}/scale", tf.ones(shape))

    def __call__(self, h):
        """The map of conditioner output h."""
        s_raw, shift = halves(h)
        return ShiftScaleParams(shift, like(self.scale, h) * tf.tanh(s_raw))


class Standardize:
    """Glow's learned Gaussian prior as a map to standardised eps: h = [mean | logsd]."""

    def __call__(self, h):
        """The map of conditioner output h."""
        return StandardizeParams(*halves(h))


# --------------------------------------------------------------------------------- coupling
class Coupling(FlowBijector):
    """partition + conditioner + inner transform (see the module docstring)."""

    takes_labels = True  # read by the top prior's conditioner (ycond); others ignore them

    def __init__(self, partition, conditioner, transform, name="coupling",
                 event_ndims=3):
        super().__init__(name=name, forward_min_event_ndims=event_ndims)
        self.partition = partition
        self.conditioner = conditioner
        self.transform = transform

    def params(self, kept, labels=None):
        """The inner transform's parameters given the conditioning part."""
        return self.partition.restrict(self.transform(self.conditioner(kept, labels)))

    def forward_parts(self, x, labels=None):
        """(conditioning part, transformed part, log|det|), not merged."""
        kept, changed = self.partition.split(x)
        out, log_det = self.params(kept, labels).forward(changed)
        return kept, out, log_det

    def inverse_from_parts(self, kept, out, labels=None):
        """Inverse of forward_parts: (x, log|det| of the inverse map)."""
        changed, log_det = self.params(kept, labels).inverse(out)
        return self.partition.merge(kept, changed), log_det

    def forward_flat(self, x, labels=None):
        kept, out, log_det = self.forward_parts(x, labels)
        return self.partition.merge(kept, out), log_det

    def inverse_flat(self, y, labels=None):
        return self.inverse_from_parts(*self.partition.split(y), labels=labels)

    def log_scale_and_shift(self, x, labels=None):
        """(log-scale, shift) maps applied to x, full size, zeros where nothing changes."""
        kept, _ = self.partition.split(x)
        params = self.params(kept, labels)
        return (self.partition.to_full(kept, params.log_scale()),
                self.partition.to_full(kept, params.shift_map()))
