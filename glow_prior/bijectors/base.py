"""Base classes for the flow bijectors.

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

Data-dependent initialisation (OpenAI's actnorm init) runs one eager forward pass inside
`data_dependent_init()`; each ActNorm met on the way sets its parameters from the
activations it receives, which already come from initialised upstream layers.
"""
import contextlib
import threading

import tensorflow as tf
import tensorflow_probability as tfp
# tfb.Chain of bijectors that are not CompositeTensors (ours hold tf.Variables) is built as
# this class; subclassing tfb.Chain itself would make FlowChain a CompositeTensor.
from tensorflow_probability.python.bijectors.chain import _Chain as NonCompositeChain

tfb = tfp.bijectors

_DDI = threading.local()


@contextlib.contextmanager
def data_dependent_init():
    """Within this context, ActNorm layers initialise themselves from their inputs."""
    if not tf.executing_eagerly():
        raise RuntimeError("data-dependent init must run eagerly, not inside tf.function")
    _DDI.active = True
    try:
        yield
    finally:
        _DDI.active = False


def ddi_active():
    return getattr(_DDI, "active", False)


def sum_except_batch(x):
    """Sums all axes but the first: per-example totals of [B, ...] tensors."""
    return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def zeros_like_batch(x):
    return tf.zeros([tf.shape(x)[0]], dtype=x.dtype)


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


def _unconditional(y):
    if y is not None:
        raise ValueError("this flow is not class-conditional; do not pass labels y")
