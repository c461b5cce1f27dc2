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


def save_image_grid(images, path, columns=None, min_size=256):
    """Writes the mosaic of `images` as a PNG (pixels repeated until the shorter side is at
    least `min_size`); returns the mosaic at native resolution."""
    grid = image_grid(images, columns)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    factor = max(1, int(math.ceil(min_size / min(grid.shape[:2]))))
    shown = np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1)
    shown = shown[..., 0] if shown.shape[-1] == 1 else shown
    plt.imsave(path, shown, cmap="gray" if grid.shape[-1] == 1 else None, vmin=0, vmax=255)
    return grid


def _save(figure, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def log_likelihood_histograms(values, path, title="", bins=60):
    """Density-normalised histograms of per-example log-likelihoods on shared bins
    (Kamoi et al. Figure 4). `values`: {label: 1-D array}."""
    finite = {k: np.asarray(v)[np.isfinite(v)] for k, v in values.items()}
    everything = np.concatenate([v for v in finite.values() if v.size])
    low, high = np.percentile(everything, [0.5, 100])
    edges = np.linspace(low, high, bins + 1)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, data in finite.items():
        axes.hist(np.clip(data, low, high), bins=edges, density=True, alpha=0.5, label=label)
    axes.set_xlabel("log-likelihood (nats)")
    axes.set_ylabel("density")
    axes.set_title(title)
    axes.legend()
    return _save(figure, path)


def latent_histograms(values, coordinate, path, title="", bins=60):
    """Histograms of one latent coordinate per data set (Kamoi et al. Figure 5)."""
    everything = np.concatenate([np.asarray(v) for v in values.values()])
    edges = np.linspace(everything.min(), everything.max(), bins + 1)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, data in values.items():
        axes.hist(data, bins=edges, density=True, alpha=0.5, label=label)
    axes.set_xlabel(f"latent coordinate {coordinate}")
    axes.set_ylabel("density")
    axes.set_title(title)
    axes.legend()
    return _save(figure, path)


def log_likelihood_contours(grid_x, grid_y, log_likelihood, points, path, title="",
                            levels=np.linspace(-10, -1, 10)):
    """Contours of a 2-D log-density with data overlaid (Kamoi et al. Figure 2).
    `points`: {label: [N, 2] array}."""
    figure, axes = plt.subplots(figsize=(5, 4))
    contour = axes.contour(grid_x, grid_y, log_likelihood, levels=levels, cmap="viridis")
    figure.colorbar(contour, ax=axes, label="log-likelihood")
    for label, data in points.items():
        axes.scatter(data[:, 0], data[:, 1], s=2, alpha=0.4, label=label)
    axes.set_title(title)
    axes.legend(markerscale=4)
    return _save(figure, path)


def line_plot(series, path, xlabel, ylabel, title=""):
    """{label: (x values, y values)} as lines with markers (e.g. Kamoi et al. Figure 6).
    Values spanning more than an order of magnitude get a symmetric-log y axis, so that a
    series of small values stays readable beside one of large values."""
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for label, (xs, ys) in series.items():
        axes.plot(xs, ys, marker="o", label=label)
    magnitudes = np.abs([y for _, ys in series.values() for y in ys])
    if magnitudes.min() > 0 and magnitudes.max() / magnitudes.min() > 10:
        axes.set_yscale("symlog", linthresh=magnitudes.min())
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    return _save(figure, path)


def curve_scale(curves):
    """"log" when the curves' values are all positive and span more than a factor of 10,
    else "linear"."""
    values = np.concatenate([np.asarray(y, float).ravel() for y in curves])
    spread = values.size and values.min() > 0 and values.max() > 10 * values.min()
    return "log" if spread else "linear"


def curves(series, path, xlabel, ylabel, title=""):
    """Curves (lines with markers where they are short): `series` = {label: (x, y)}. The
    y axis is logarithmic when the values are positive and span more than a factor of 10
    (a flow's first steps cost tens of times its final bits/dim, which would flatten the
    rest of a linear curve)."""
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, (x, y) in series.items():
        axes.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=label)
    axes.set_yscale(curve_scale([y for _, y in series.values()]))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    return _save(figure, path)


def value_histograms(left, right, path, xlabels, bins=50, clip_quantile=99.0):
    """Two panels of overlaid histograms ({label: values} each), x clipped at a quantile
    (Kamoi et al. Figure 7 clips its axis for visibility)."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, values, xlabel in zip(axes, (left, right), xlabels):
        high = np.percentile(np.concatenate(list(values.values())), clip_quantile)
        for label, data in values.items():
            ax.hist(np.clip(data, 0, high), bins=np.linspace(0, high, bins + 1), alpha=0.5,
                    label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("pixels")
        ax.legend(fontsize=8)
    return _save(figure, path)


def _image_rows(rows, path, panel_size, title, draw):
    """One labelled row of panels per entry of `rows` ({label: items}); `draw(ax, item)`
    fills a panel; rows shorter than the longest leave their last panels empty."""
    n_cols = max(len(items) for items in rows.values())
    figure, axes = plt.subplots(len(rows), n_cols, squeeze=False,
                                figsize=(panel_size[0] * n_cols, panel_size[1] * len(rows)))
    for row, (label, items) in enumerate(rows.items()):
        for col in range(n_cols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(items):
                ax.axis("off")
                continue
            draw(ax, items[col])
        axes[row, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    figure.suptitle(title, fontsize=9)
    return _save(figure, path)


def _show(ax, image, vmax):
    """Grey (one channel) or RGB."""
    shown = image[..., 0] if image.ndim == 3 and image.shape[-1] != 3 else image
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=vmax)


def labelled_rows(rows, path, standardize=True, title=""):
    """A grid with one labelled row per entry of `rows` ({label: [N, H, W, C] arrays}).
    Each panel is standardised on its own for display (as Kirichenko et al. do) and shown
    in grey (first channel) or RGB."""
    def draw(ax, image):
        image = np.asarray(image, np.float64)
        if standardize:
            image = np.clip(((image - image.mean()) / (image.std() + 1e-8) + 3) / 6, 0, 1)
        elif image.max() > 1:
            image = image / 255.0
        _show(ax, image, 1)

    return _image_rows(rows, path, (1.6, 1.6), title, draw)


def images_with_values(rows, path, title=""):
    """One labelled row of uint8 images per entry of `rows` ({label: (images, values)}),
    each image captioned with its value (e.g. its log-likelihood)."""
    def draw(ax, item):
        image, value = item
        _show(ax, np.asarray(image), 255)
        ax.set_title(f"{value:.4g}", fontsize=6)

    return _image_rows({label: list(zip(images, values))
                        for label, (images, values) in rows.items()},
                       path, (1.1, 1.35), title, draw)


def _panel_grid(count, max_columns, panel_size):
    """A figure with `count` panels in rows of at most `max_columns`; returns (figure,
    the panels' axes in order), unused panels hidden."""
    columns = min(count, max_columns)
    rows = int(math.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, squeeze=False,
                                figsize=(panel_size[0] * columns, panel_size[1] * rows))
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    return figure, axes.ravel()[:count]


def histogram_panels(panels, path, title="", bins=60):
    """One panel of overlaid log-likelihood histograms per run (Kamoi et al. Figures 4 and
    8, Kirichenko et al. Figure 16): `panels` = {run: {set label: values}}."""
    figure, axes = _panel_grid(len(panels), 4, (4.2, 3.2))
    for ax, (name, values) in zip(axes, panels.items()):
        finite = {k: np.asarray(v)[np.isfinite(v)] for k, v in values.items()}
        everything = np.concatenate([v for v in finite.values() if v.size])
        low, high = np.percentile(everything, [0.5, 100])
        edges = np.linspace(low, high, bins + 1)
        for label, data in finite.items():
            ax.hist(np.clip(data, low, high), bins=edges, density=True, alpha=0.5,
                    label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log-likelihood (nats)")
        ax.legend(fontsize=7)
    figure.suptitle(title)
    return _save(figure, path)


def roc_curves(curves, path, title=""):
    """One panel per OOD set with the ROC curve of every score: `curves` =
    {ood set: {score: (false positive rates, true positive rates)}}."""
    figure, axes = _panel_grid(len(curves), 3, (4.6, 4.2))
    for ax, (ood, by_score) in zip(axes, curves.items()):
        for name, (fpr, tpr) in by_score.items():
            ax.plot(fpr, tpr, label=name, linewidth=1)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
        ax.set_title(f"in-distribution vs {ood}", fontsize=9)
        ax.set_xlabel("false positive rate (OOD called in)")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=6)
    figure.suptitle(title)
    return _save(figure, path)
