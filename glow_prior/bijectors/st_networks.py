"""st-networks of RealNVP couplings: a residual convolutional network, optionally with a
bottleneck (Kirichenko et al. 2020, App. C and I.2).

ResNet: 3x3 conv to `width` channels, `blocks` residual blocks (ReLU, 3x3 conv, ReLU, 3x3
conv, + identity), ReLU and a zero-initialised 3x3 conv to 2 * C outputs, read as (s_raw, t)
halves. Every hidden conv is followed by an actnorm with data-dependent initialisation,
where flows_ood uses batch normalisation: this keeps train- and test-mode likelihoods
identical (their issue #5). With `bottleneck` = l > 0 (their ResNetAE), the blocks have no
identity skips and the features after blocks // 2 blocks are flattened, projected to l
dimensions and back, which limits what the st-network can transmit (their "bottleneck
dimension l").
"""
import numpy as np
import tensorflow as tf

from glow_prior.bijectors.layers import ActNormLayer, conv2d, conv_then_actnorm, variable


def _conv_weights(rng, scope, shape):
    return variable(f"{scope}/W", rng.normal(0.0, 0.05, shape).astype(np.float32))


class _Conv(tf.Module):
    """3x3 conv (SAME, with bias) followed by actnorm."""

    def __init__(self, scope, n_in, n_out, rng):
        super().__init__(name=None)
        self.W = _conv_weights(rng, scope, [3, 3, n_in, n_out])
        self.b = variable(f"{scope}/b", tf.zeros([n_out]))
        self.actnorm = ActNormLayer(scope, n_out)

    def __call__(self, x):
        return conv_then_actnorm(conv2d, x, self.W, self.actnorm, bias=self.b)


class ResNetST(tf.Module):
    def __init__(self, scope, shape, width, blocks, rng, bottleneck=0):
        super().__init__(name=None)
        height, image_width, channels = shape
        self.conv_in = _Conv(f"{scope}/in", channels, width, rng)
        self.blocks = [(_Conv(f"{scope}/block{i}/a", width, width, rng),
                        _Conv(f"{scope}/block{i}/b", width, width, rng)) for i in range(blocks)]
        self.bottleneck_at = blocks // 2 if bottleneck else None
        if bottleneck:
            flat = height * image_width * width
            scale = np.sqrt(1.0 / flat)
            self.down = variable(f"{scope}/bottleneck/down",
                                 rng.normal(0, scale, [flat, bottleneck]).astype(np.float32))
            self.up = variable(f"{scope}/bottleneck/up", rng.normal(
                0, np.sqrt(1.0 / bottleneck), [bottleneck, flat]).astype(np.float32))
        self.W_out = variable(f"{scope}/out/W", tf.zeros([3, 3, width, 2 * channels]))
        self.b_out = variable(f"{scope}/out/b", tf.zeros([2 * channels]))

    def _squeeze_through_bottleneck(self, h):
        shape = tf.shape(h)
        flat = tf.reshape(h, [shape[0], -1])
        return tf.reshape(tf.matmul(tf.matmul(flat, self.down), self.up), shape)

    def __call__(self, x):
        h = self.conv_in(x)
        for index, (first, second) in enumerate(self.blocks):
            if index == self.bottleneck_at:
                h = self._squeeze_through_bottleneck(h)
            residual = second(tf.nn.relu(first(tf.nn.relu(h))))
            h = residual if self.bottleneck_at is not None else h + residual
        out = conv2d(tf.nn.relu(h), self.W_out) + self.b_out
        return tf.split(out, 2, axis=-1)
