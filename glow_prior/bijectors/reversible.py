"""Gradients of a chain of bijectors without its activations: backprop by inversion.

A flow is invertible, so backpropagation need not keep what each step computed: from a
chain's output y and the upstream gradients (dy, dlog_det), the backward pass rebuilds each
step's input from its output (x_k = step^-1(y_k)), recomputes that step alone under a
gradient tape, and passes dx_k on to the step before (Gomez et al. 2017's reversible
residual networks; for flows, e.g. the memory-efficient training of i-RevNet and the
invertible-network backprop of FrEIA / MemCNN). Only the chain's input and output are
kept, so activation memory no longer grows with the number of steps: openai/glow's
--gradient_checkpointing (which instead stores every step's output and recomputes inside
steps) with less memory still.

The gradients are those of standard backprop evaluated at the reconstructed inputs, which
differ from the stored ones by the inverse's rounding error (float32: ~1e-6 relative per
step through these bijectors; float64: ~1e-14). Used by FlowChain when its model's
FlowContext has `gradient_checkpointing` set (the training binaries' flag).
"""
import tensorflow as tf


def _zeros_if_none(gradient, like):
    return tf.zeros_like(like) if gradient is None else gradient


def reversible_forward(steps, x):
    """(y, log_det) of the steps applied in order to x (one batch axis), with the backward
    pass by inversion described in the module docstring."""

    @tf.custom_gradient
    def forward(inputs):
        outputs, log_det = inputs, tf.zeros([tf.shape(inputs)[0]], inputs.dtype)
        for step in steps:
            outputs, step_log_det = step.forward_flat(outputs)
            log_det += step_log_det

        def backward(d_outputs, d_log_det, variables=None):
            d_outputs = _zeros_if_none(d_outputs, outputs)
            d_log_det = _zeros_if_none(d_log_det, log_det)
            variables = list(variables or [])
            d_variables = [None] * len(variables)
            current, upstream = outputs, d_outputs
            for step in reversed(steps):
                # In a graph the inversion depends on the chain's output alone and could
                # run for every step as soon as the forward pass ends, holding all their
                # activations at once; ordering it after this step's upstream gradient
                # keeps one step's activations alive at a time.
                with tf.control_dependencies([upstream, d_log_det]):
                    previous, _ = step.inverse_flat(current)
                    previous = tf.stop_gradient(previous)
                    with tf.GradientTape() as tape:
                        tape.watch(previous)
                        recomputed, step_log_det = step.forward_flat(previous)
                gradients = tape.gradient([recomputed, step_log_det], [previous, *variables],
                                          output_gradients=[upstream, d_log_det])
                upstream = gradients[0]
                for index, gradient in enumerate(gradients[1:]):
                    if gradient is not None:
                        d_variables[index] = gradient if d_variables[index] is None \
                            else d_variables[index] + gradient
                current = previous
            d_variables = [_zeros_if_none(g, v) if v.dtype.is_floating else None
                           for g, v in zip(d_variables, variables)]
            return upstream, d_variables

        return (outputs, log_det), backward

    return forward(x)
