"""Figures: image grids, log-likelihood histograms, latent histograms, contours."""
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position


def image_grid(images, columns=None):
    """uint8 [N, H, W, C] -> one uint8 [rows*H, columns*W, C] mosaic."""
    images = np.asarray(images)
    n, height, width, channels = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros([rows * height, columns * width, channels], images.dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return grid


def save_image_grid(images, path, columns=None):
    """Writes the mosaic of `images` as a PNG; returns the mosaic."""
    grid = image_grid(images, columns)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shown = grid[..., 0] if grid.shape[-1] == 1 else grid
    plt.imsave(path, shown, cmap="gray" if grid.shape[-1] == 1 else None, vmin=0, vmax=255)
    return grid
