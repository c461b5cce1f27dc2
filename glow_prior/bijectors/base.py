"""Base classes for the flow bijectors, and the per-model context their layers consult.

Direction: a bijector's *forward* is the encoding direction x -> z, as in OpenAI Glow's
code; the generative model is `tfd.TransformedDistribution(prior, tfb.Invert(flow))`, so

    log p(x) = log p_Z(flow.forward(x)) + flow.forward_log_det_jacobian(x).

Every bijector here also has `forward_and_log_det(x)` / `inverse_and_log_det(z)`, which
return the output and the log|det J| from one pass. Training uses these: TFP's
TransformedDistribution.log_prob calls `forward` and `forward_log_det_jacobian` separately,
which runs each coupling network twice.

TFP shape semantics. An input is `batch_shape + event_shape`, the event being the last
`forward_min_event_ndims` axes ([H, W, C] images, [D] vectors); any batch shape works
((), [B], [2, 3], ...) and log-determinants have the batch shape, as for TFP's own
bijectors (`tfb.Glow`, `tfb.RealNVP`). Subclasses implement `forward_flat(x)` and
`inverse_flat(y)` on exactly one batch axis; `forward_and_log_det` reshapes any other batch
shape to one axis and back (the rank must be known when the function is traced). Class
labels of a class-conditional flow are the keyword `labels` (of the batch shape), which
does not clash with TFP's own arguments: `flow.inverse(z, labels=y)`,
`TransformedDistribution.log_prob(x, bijector_kwargs={"labels": y})`.

dtype: variables are float32 and are cast to the input's dtype where they are used, so
every bijector computes in float32 or float64, whichever it is given (a float32-trained
model evaluates in float64 unchanged). The 1x1 convolutions' log-determinants are always
computed in float64 (as OpenAI does) and their inverses in the input's dtype.

TFP caching: trainable bijectors leave `parameters` unset, so TFP keys its cache by object
identity (two bijectors with equal hyperparameters never share cached results), and none
declares a constant Jacobian.

`FlowContext` is owned by one model and handed to its layers when they are built: it holds
the dtype convolutions compute in (mixed precision) and whether OpenAI's data-dependent
initialisation is running (`with context.data_dependent_init(): model.encode(batch)`:
each ActNorm met on the way sets its parameters from the activations it receives, which
already come from initialised upstream layers). Nothing is shared between models.
"""
import contextlib

import tensorflow as tf
import tensorflow_probability as tfp

# tfb.Chain of bijectors that are not CompositeTensors (ours hold tf.Variables) is built as
# this class; subclassing tfb.Chain itself would make FlowChain a CompositeTensor.
from tensorflow_probability.python.bijectors.chain import _Chain as NonCompositeChain

from glow_prior.bijectors.reversible import reversible_forward
from glow_prior.errors import InputError

tfb = tfp.bijectors

COMPUTE_DTYPES = {"none": None, "bfloat16": tf.bfloat16, "float16": tf.float16}


class FlowContext:
    """Settings of one model that its layers read while they run (not a tf.Module: nothing
    here is saved)."""

    def __init__(self, mixed_precision="none", gradient_checkpointing=False):
        if mixed_precision not in COMPUTE_DTYPES:
            raise InputError(f"mixed_precision must be one of {sorted(COMPUTE_DTYPES)}, got "
                             f"'{mixed_precision}'")
        self.compute_dtype = COMPUTE_DTYPES[mixed_precision]
        # Backprop through the model's level chains by inversion (bijectors.reversible).
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.initializing = False

    @property
    def reversible_backprop(self):
        """Whether chains backprop by inversion now (gradient checkpointing, and not during
        the data-dependent init)."""
        return self.gradient_checkpointing and not self.initializing

    @contextlib.contextmanager
    def data_dependent_init(self):
        """Within this context, the model's ActNorm layers initialise from their inputs."""
        if not tf.executing_eagerly():
            raise RuntimeError("data-dependent init must run eagerly, not inside tf.function")
        self.initializing = True
        try:
            yield
        finally:
            self.initializing = False

    def conv2d(self, x, kernel, padding="SAME"):
        """tf.nn.conv2d in the compute dtype (mixed precision) or else x's dtype; returns
        x's dtype."""
        kernel = tf.cast(kernel, x.dtype)
        if self.compute_dtype is None or not x.dtype.is_floating or x.dtype == tf.float64:
            return tf.nn.conv2d(x, kernel, strides=1, padding=padding)
        y = tf.nn.conv2d(tf.cast(x, self.compute_dtype), tf.cast(kernel, self.compute_dtype),
                         strides=1, padding=padding)
        return tf.cast(y, x.dtype)


def like(value, x):
    """`value` (a variable or tensor) in x's dtype: a no-op when they already agree."""
    return tf.cast(value, x.dtype)


def sum_except_batch(x):
    """Sums all axes but the first: per-example totals of [B, ...] tensors. (A reshape to a
    static [-1, size] would also take a batch of 0, but changes which reduction kernel
    runs and with it the last bits; models never reach here with an empty batch,
    glow_prior.models.base.any_batch.)"""
    return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def zeros_like_batch(x):
    """Zeros [B] of x's dtype: a log-determinant that adds nothing."""
    return tf.zeros([tf.shape(x)[0]], dtype=x.dtype)


def halves(x):
    """x split into its first floor(C/2) and remaining channels (last axis); tf.split, whose
    gradient is a concatenation (cheaper than a strided slice's)."""
    half = x.shape[-1] // 2
    return tf.split(x, [half, x.shape[-1] - half], axis=-1)


def on_flat_batch(function, x, event_ndims, labels=None):
    """function(x_flat[, labels_flat]) -> (output, log_det) evaluated on x with any batch
    shape: the batch axes of x (all but its last `event_ndims`) are merged into one, and
    restored on the output (before its own event axes) and on log_det. A tensor with
    exactly one batch axis is passed through unchanged. Labels, when given, have the
    batch shape."""
    rank = x.shape.rank
    if rank is None:
        raise InputError("the rank of a flow's input must be known (batch axes + event "
                         f"axes); got a tensor of unknown rank {x}")
    if rank < event_ndims:
        raise InputError(f"a flow over events of rank {event_ndims} got an input of shape "
                         f"{x.shape}")

    def call(inputs, flat_labels):
        return function(inputs) if flat_labels is None else function(inputs, flat_labels)

    if rank == event_ndims + 1:
        return call(x, labels)
    batch_shape = tf.shape(x)[:rank - event_ndims]
    static_batch = x.shape[:rank - event_ndims]
    flat = tf.reshape(x, tf.concat([[-1], tf.shape(x)[rank - event_ndims:]], 0))
    output, log_det = call(flat, None if labels is None else tf.reshape(labels, [-1]))
    output = tf.reshape(output, tf.concat([batch_shape, tf.shape(output)[1:]], 0))
    output.set_shape(static_batch.concatenate(output.shape[static_batch.rank:]))
    log_det = tf.reshape(log_det, batch_shape)
    log_det.set_shape(static_batch)
    return output, log_det


class OnePass:
    """The one-pass, any-batch-shape interface of glow_prior's bijectors (see the module
    docstring); mixed into tfb.Bijector subclasses, whose TFP methods it implements.

    Subclasses implement `forward_flat(x)` -> (output, log|det J| [B]) and
    `inverse_flat(y)` -> (input, log|det dx/dy| [B]) for one batch axis; those that read
    class labels set `takes_labels` and accept them as a second argument."""

    takes_labels = False

    def forward_flat(self, x):
        """(output, log|det d output / d x| [B]) of x with exactly one batch axis."""
        raise NotImplementedError

    def inverse_flat(self, y):
        """(input, log|det d input / d y| [B]) of y with exactly one batch axis."""
        raise NotImplementedError

    def _flat(self, function, x, event_ndims, labels):
        if labels is not None and not self.takes_labels:
            raise InputError(f"{self.name} is not class-conditional; do not pass labels")
        return on_flat_batch(function, x, event_ndims, labels)

    def forward_and_log_det(self, x, labels=None):
        """(z, log|det dz/dx|) for x of any batch shape; log_det has the batch shape."""
        return self._flat(self.forward_flat, x, self.forward_min_event_ndims, labels)

    def inverse_and_log_det(self, y, labels=None):
        """(x, log|det dx/dy|) for y of any batch shape; log_det has the batch shape."""
        return self._flat(self.inverse_flat, y, self.inverse_min_event_ndims, labels)

    def _forward(self, x, labels=None):
        return self.forward_and_log_det(x, labels)[0]

    def _inverse(self, y, labels=None):
        return self.inverse_and_log_det(y, labels)[0]

    def _forward_log_det_jacobian(self, x, labels=None):
        return self.forward_and_log_det(x, labels)[1]

    def _inverse_log_det_jacobian(self, y, labels=None):
        return self.inverse_and_log_det(y, labels)[1]


class FlowBijector(OnePass, tfb.Bijector):
    """A bijector computing (output, log|det J|) in one pass, for any batch shape (see
    OnePass for what subclasses implement)."""

    def __init__(self, name, forward_min_event_ndims=3, inverse_min_event_ndims=None):
        super().__init__(
            forward_min_event_ndims=forward_min_event_ndims,
            inverse_min_event_ndims=(forward_min_event_ndims if inverse_min_event_ndims is None
                                     else inverse_min_event_ndims),
            validate_args=False, name=name)


class FlowChain(OnePass, NonCompositeChain):
    """tfb.Chain of FlowBijectors, listed in forward (encoding) order, with a one-pass path.

    tfb.Chain([b2, b1]).forward(x) == b2(b1(x)); the constructor takes [b1, b2] and hands
    the reversed list to tfb.Chain, so TFP's event-shape bookkeeping composes the same
    maps. Labels are refused: class-conditional parts (the top prior) are not in chains.
    """

    def __init__(self, bijectors, name="flow_chain", context=None):
        """context: the model's FlowContext for a chain whose backward pass may run by
        inversion (a level of steps; glow_prior.bijectors.reversible), else None."""
        self.steps = list(bijectors)
        self.context = context
        super().__init__(list(reversed(self.steps)), name=name)

    # TFP's Composition hands event_ndims to these and expects the extra axes summed.
    def _forward_log_det_jacobian(self, x, event_ndims, labels=None):
        log_det = self.forward_and_log_det(x, labels)[1]
        return _sum_extra_axes(log_det, event_ndims, self.forward_min_event_ndims)

    def _inverse_log_det_jacobian(self, y, event_ndims, labels=None):
        log_det = self.inverse_and_log_det(y, labels)[1]
        return _sum_extra_axes(log_det, event_ndims, self.inverse_min_event_ndims)

    def forward_flat(self, x):
        if self.context is not None and self.context.reversible_backprop:
            return reversible_forward(self.steps, x)
        log_det = zeros_like_batch(x)
        for bijector in self.steps:
            x, step_log_det = bijector.forward_flat(x)
            log_det += step_log_det
        return x, log_det

    def inverse_flat(self, z):
        log_det = zeros_like_batch(z)
        for bijector in reversed(self.steps):
            z, step_log_det = bijector.inverse_flat(z)
            log_det += step_log_det
        return z, log_det

    def leaves(self):
        """The bijectors in forward order, nested chains flattened."""
        for step in self.steps:
            if isinstance(step, FlowChain):
                yield from step.leaves()
            else:
                yield step


def _sum_extra_axes(log_det, event_ndims, min_event_ndims):
    extra = int(tf.get_static_value(event_ndims)) - min_event_ndims
    return tf.reduce_sum(log_det, axis=list(range(-extra, 0))) if extra else log_det
