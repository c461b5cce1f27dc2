"""Visualisations of Kirichenko et al. (2020), App. E, F, H, J, for multi-scale image flows.

Everything is shown in image layout: the reshape-only inverse of the flow (undo squeezes
and splits, skip every learned layer) maps latents and intermediate activations back to
[H, W, C], as their App. E describes; factored-out parts are joined back in (activations:
the actual factored-out values of the same forward pass; s and t maps: zeros).

* latent_images: unsqueezed latents z of images (averaged over dequantisation draws);
* coupling_maps: each coupling layer's output and its log-scale s and shift t maps
  (Coupling.log_scale_and_shift, the same hook for every coupling);
* jacobian_map: |dz_i/dx| for one latent coordinate (their Figure 12);
* resample_center: latents of a central square resampled from N(0, T^2 I), decoded
  (their Figure 17);
* samples: the model's samples.
"""
import os

import numpy as np
import tensorflow as tf

from glow_prior.reports import plots
from glow_prior.bijectors.couplings import Coupling
from glow_prior.bijectors.squeeze import Squeeze, unsqueeze2d


def _squeeze_count(level):
    return sum(isinstance(step, Squeeze) for step in level.leaves())


class ImageLayout:
    """Maps tensors inside a MultiScaleFlow back to the input's image layout."""

    def __init__(self, flow):
        self.flow = flow
        self.squeezes = [_squeeze_count(level) for level in flow.levels]
        # Which levels factor out half their channels (none without a multi-scale split).
        self.splits = [split is not None for split in flow.splits]

    def to_image(self, tensor, level, squeezes_done, fills):
        """`tensor` sits in `level` after `squeezes_done` of its squeezes; `fills` are the
        parts factored out before it (one per level that splits, in order), joined back
        where they were factored out."""
        for _ in range(squeezes_done):
            tensor = unsqueeze2d(tensor)
        remaining = sum(self.splits[:level])
        for previous in reversed(range(level)):
            if self.splits[previous]:
                remaining -= 1
                tensor = tf.concat([tensor, fills[remaining]], axis=-1)
            for _ in range(self.squeezes[previous]):
                tensor = unsqueeze2d(tensor)
        return tensor

    def latent_to_image(self, z):
        """Flat latents [B, D] -> [B, H, W, C] through the reshape-only inverse."""
        parts = self.flow.unflatten(z)
        top_level = len(self.flow.levels) - 1
        return self.to_image(parts[-1], top_level, self.squeezes[top_level], parts[:-1])


def latent_images(model, x, noise_draws=1, seed=0):
    """Unsqueezed latents of uint8 images, averaged over `noise_draws` dequantisations."""
    layout = ImageLayout(model.flow)
    total = 0.0
    for draw in range(noise_draws):
        total += layout.latent_to_image(model.encode(x, seed=[seed, draw]))
    return (total / noise_draws).numpy()


def coupling_maps(model, x, noise=None):
    """[(name, output, s, t)] per coupling layer, each [B, H, W, C] in image layout."""
    flow, layout = model.flow, ImageLayout(model.flow)
    z = model.flow_input(x, noise)
    factored, records = [], []
    for level_index, (level, split) in enumerate(zip(flow.levels, flow.splits + [None])):
        squeezes = 0
        for layer in level.leaves():
            if isinstance(layer, Coupling):
                s, t = layer.log_scale_and_shift(z)
            z, _ = layer.forward_and_log_det(z)
            squeezes += isinstance(layer, Squeeze)
            if isinstance(layer, Coupling):
                zero_fills = [tf.zeros_like(f) for f in factored]
                records.append((f"level {level_index} coupling {len(records)}",
                                layout.to_image(z, level_index, squeezes, factored).numpy(),
                                layout.to_image(s, level_index, squeezes, zero_fills).numpy(),
                                layout.to_image(t, level_index, squeezes, zero_fills).numpy()))
        if split is not None:
            z, eps, _ = split.split(z)
            factored.append(eps)
    return records


def latent_index_image(model):
    """[H, W, C] array: which flat latent coordinate sits at each pixel in image layout."""
    indices = tf.range(model.num_dims, dtype=tf.float32)[None]
    return ImageLayout(model.flow).latent_to_image(indices).numpy()[0].astype(np.int64)


def jacobian_map(model, x, coordinate, noise=None):
    """|d z_coordinate / d x_in| summed over channels, [B, H, W] (receptive field)."""
    x_in = model.flow_input(x, noise)
    with tf.GradientTape() as tape:
        tape.watch(x_in)
        z, _ = model.flow.forward_and_log_det(x_in)
        target = z[:, coordinate]
    gradient = tape.gradient(target, x_in)
    return tf.reduce_sum(tf.abs(gradient), axis=-1).numpy()


def central_square_coordinates(model, fraction=10 / 32):
    """Latent coordinates whose image-layout position lies in a central square whose side
    is `fraction` of the image side (10 x 10 of 32 x 32 in Kirichenko et al. App. J.1)."""
    index_image = latent_index_image(model)
    height, width, _ = index_image.shape
    side = max(1, int(round(fraction * height)))
    top, left = (height - side) // 2, (width - side) // 2
    return np.unique(index_image[top:top + side, left:left + side].ravel())


def resample_center(model, x, seed, temperature=1.0):
    """Decoded images whose central-square latents are redrawn from N(0, T^2 I); the other
    latents are those of x at its bin centres (model.encode without noise)."""
    z = model.encode(x).numpy()
    coordinates = central_square_coordinates(model)
    rng = np.random.default_rng(seed)
    z[:, coordinates] = temperature * rng.standard_normal((len(z), len(coordinates)))
    return model.decode(tf.constant(z, tf.float32)).numpy()


def write_figures(model, x_in, x_ood, ood_name, output_dir, noise_draws=40, max_couplings=12,
                  temperature=0.7, seed=0):
    """latents.png, couplings.png, jacobian.png, resample.png and samples.png for
    in-distribution images `x_in` and OOD images `x_ood`; returns their paths."""
    paths = [plots.labelled_rows({
        "in: image": x_in,
        "in: latent": latent_images(model, x_in, noise_draws, seed),
        f"{ood_name}: image": x_ood,
        f"{ood_name}: latent": latent_images(model, x_ood, noise_draws, seed),
    }, os.path.join(output_dir, "latents.png"), title="latent representations (unsqueezed)")]

    pair = np.concatenate([x_in[:1], x_ood[:1]])
    noise = model.dequantization_noise(pair, tf.constant([seed, 1], tf.int64))
    rows = {name: [output[0], s[0], t[0], output[1], s[1], t[1]]
            for name, output, s, t in coupling_maps(model, pair, noise)[:max_couplings]}
    paths.append(plots.labelled_rows(
        rows, os.path.join(output_dir, "couplings.png"),
        title="columns: in-distribution output, s, t | OOD output, s, t"))

    index_image = latent_index_image(model)
    height, width, _ = index_image.shape
    coordinates = [int(index_image[height // 2, width // 2, 0]),
                   int(index_image[height // 8, width // 2, 0])]
    maps = [jacobian_map(model, x_in[:1], c)[0][..., None] for c in coordinates]
    paths.append(plots.labelled_rows(
        {"image, |dz/dx| centre, off-centre": [x_in[0], *maps]},
        os.path.join(output_dir, "jacobian.png"),
        title=f"receptive fields of latent coordinates {coordinates}"))

    originals = np.concatenate([x_in, x_ood])
    paths.append(plots.labelled_rows(
        {"original": originals,
         "centre resampled": resample_center(model, originals, seed, temperature)},
        os.path.join(output_dir, "resample.png"), standardize=False))
    samples = model.sample(16, seed=[seed, 2], temperature=temperature).numpy()
    path = os.path.join(output_dir, "samples.png")
    plots.save_image_grid(samples, path)
    return paths + [path]
