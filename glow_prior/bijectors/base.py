"""Base classes for the flow bijectors, and the per-model context their layers consult.

Direction: a bijector's *forward* is the encoding direction x -> z, as in OpenAI Glow's
code; the generative model is `tfd.TransformedDistribution(prior, tfb.Invert(flow))`, so

    log p(x) = log p_Z(flow.forward(x)) + flow.forward_log_det_jacobian(x).

Every bijector here also has `forward_and_log_det(x)` / `inverse_and_log_det(z)`, which
return the output and the per-example log|det J| from one pass. Training uses these: TFP's
TransformedDistribution.log_prob calls `forward` and `forward_log_det_jacobian` separately,
which runs each coupling network twice.

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

from glow_prior.errors import InputError

tfb = tfp.bijectors

COMPUTE_DTYPES = {"none": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}


class FlowContext:
    """Settings of one model that its layers read while they run (not a tf.Module: nothing
    here is saved)."""

    def __init__(self, mixed_precision="none"):
        if mixed_precision not in COMPUTE_DTYPES:
            raise InputError(f"mixed_precision must be one of {sorted(COMPUTE_DTYPES)}, got "
                             f"'{mixed_precision}'")
        self.compute_dtype = COMPUTE_DTYPES[mixed_precision]
        self.initializing = False

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
        """tf.nn.conv2d in the compute dtype, returning float32."""
        if self.compute_dtype == tf.float32:
            return tf.nn.conv2d(x, kernel, strides=1, padding=padding)
        y = tf.nn.conv2d(tf.cast(x, self.compute_dtype), tf.cast(kernel, self.compute_dtype),
                         strides=1, padding=padding)
        return tf.cast(y, tf.float32)


def sum_except_batch(x):
    """Sums all axes but the first: per-example totals of [B, ...] tensors."""
    return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def zeros_like_batch(x):
    return tf.zeros([tf.shape(x)[0]], dtype=x.dtype)


def halves(x):
    """x split into its first floor(C/2) and remaining channels (last axis); tf.split, whose
    gradient is a concatenation (cheaper than a strided slice's)."""
    half = x.shape[-1] // 2
    return tf.split(x, [half, x.shape[-1] - half], axis=-1)


class FlowBijector(tfb.Bijector):
    """A bijector computing (output, per-example log|det J|) in one pass.

    Subclasses implement `forward_and_log_det(x, **kwargs)` and
    `inverse_and_log_det(y, **kwargs)`, where the second returns log|det d(x)/d(y)|.
    """

    def __init__(self, name, forward_min_event_ndims=3, inverse_min_event_ndims=None):
        super().__init__(
            forward_min_event_ndims=forward_min_event_ndims,
            inverse_min_event_ndims=(forward_min_event_ndims if inverse_min_event_ndims is None
                                     else inverse_min_event_ndims),
            validate_args=False, name=name)

    def forward_and_log_det(self, x, **kwargs):
        raise NotImplementedError

    def inverse_and_log_det(self, y, **kwargs):
        raise NotImplementedError

    def _forward(self, x, **kwargs):
        return self.forward_and_log_det(x, **kwargs)[0]

    def _inverse(self, y, **kwargs):
        return self.inverse_and_log_det(y, **kwargs)[0]

    def _forward_log_det_jacobian(self, x, **kwargs):
        return self.forward_and_log_det(x, **kwargs)[1]

    def _inverse_log_det_jacobian(self, y, **kwargs):
        return self.inverse_and_log_det(y, **kwargs)[1]


class FlowChain(NonCompositeChain):
    """tfb.Chain of FlowBijectors, listed in forward (encoding) order, with a one-pass path.

    tfb.Chain([b2, b1]).forward(x) == b2(b1(x)); the constructor takes [b1, b2] and hands
    the reversed list to tfb.Chain, so TFP's own methods compose exactly the same maps.
    """

    def __init__(self, bijectors, name="flow_chain"):
        self.steps = list(bijectors)
        super().__init__(list(reversed(self.steps)), name=name)

    def forward_and_log_det(self, x, y=None):
        _unconditional(y)
        log_det = zeros_like_batch(x)
        for bijector in self.steps:
            x, step_log_det = bijector.forward_and_log_det(x)
            log_det += step_log_det
        return x, log_det

    def inverse_and_log_det(self, z, y=None):
        _unconditional(y)
        log_det = zeros_like_batch(z)
        for bijector in reversed(self.steps):
            z, step_log_det = bijector.inverse_and_log_det(z)
            log_det += step_log_det
        return z, log_det

    def leaves(self):
        """The bijectors in forward order, nested chains flattened."""
        for step in self.steps:
            if isinstance(step, FlowChain):
                yield from step.leaves()
            else:
                yield step


def _unconditional(y):
    if y is not None:
        raise InputError("this flow is not class-conditional; do not pass labels y")
