"""Space-to-channel squeeze of OpenAI Glow (tfops.squeeze2d), a volume-preserving bijector.

[B, H, W, C] -> reshape [B, H/2, 2, W/2, 2, C] -> transpose [0, 1, 3, 5, 2, 4]
-> [B, H/2, W/2, 4C]: the new channel index is 4c + 2 dy + dx (channel-major), which
differs from tf.nn.space_to_depth's (2 dy + dx) C + c.
"""
import tensorflow as tf

from glow_prior.bijectors.base import FlowBijector, zeros_like_batch


def squeeze2d(x, factor=2):
    """[B, H, W, C] -> [B, H/f, W/f, C f^2]: OpenAI's squeeze2d (each f x f block into
    channels)."""
    _, height, width, channels = x.shape
    if height % factor or width % factor:
        raise ValueError(f"cannot squeeze {height}x{width} by {factor}: the spatial size "
                         f"must be divisible by {factor}")
    x = tf.reshape(x, [-1, height // factor, factor, width // factor, factor, channels])
    x = tf.transpose(x, [0, 1, 3, 5, 2, 4])
    return tf.reshape(x, [-1, height // factor, width // factor, channels * factor ** 2])


def unsqueeze2d(x, factor=2):
    """The inverse of squeeze2d: [B, H, W, C] -> [B, H f, W f, C / f^2]."""
    _, height, width, channels = x.shape
    if channels % factor ** 2:
        raise ValueError(f"cannot unsqueeze {channels} channels by {factor}")
    out_channels = channels // factor ** 2
    x = tf.reshape(x, [-1, height, width, out_channels, factor, factor])
    x = tf.transpose(x, [0, 1, 4, 2, 5, 3])
    return tf.reshape(x, [-1, height * factor, width * factor, out_channels])


class Squeeze(FlowBijector):
    def __init__(self, factor=2):
        super().__init__(name="squeeze")
        self.factor = factor

    def forward_flat(self, x):
        return squeeze2d(x, self.factor), zeros_like_batch(x)

    def inverse_flat(self, y):
        return unsqueeze2d(y, self.factor), zeros_like_batch(y)

    def _forward_event_shape(self, input_shape):
        height, width, channels = input_shape
        f = self.factor
        return tf.TensorShape([height // f if height is not None else None,
                               width // f if width is not None else None,
                               channels * f * f if channels is not None else None])

    def _inverse_event_shape(self, output_shape):
        height, width, channels = output_shape
        f = self.factor
        return tf.TensorShape([height * f if height is not None else None,
                               width * f if width is not None else None,
                               channels // (f * f) if channels is not None else None])

    def _forward_event_shape_tensor(self, input_shape):
        f = self.factor
        return tf.stack([input_shape[0] // f, input_shape[1] // f, input_shape[2] * f * f])

    def _inverse_event_shape_tensor(self, output_shape):
        f = self.factor
        return tf.stack([output_shape[0] * f, output_shape[1] * f, output_shape[2] // (f * f)])
