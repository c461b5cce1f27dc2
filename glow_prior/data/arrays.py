"""The user's own data, in memory: numpy arrays or a tf.data.Dataset, as training and test
examples.

Examples are uint8 images [N, H, W, C] (pixel values; other integer dtypes are accepted
when their values are in 0..255) or float vectors [N, D]. A tf.data.Dataset is read once
into memory, so that epochs, seeds and resuming work exactly as for arrays (a flow trained
here sees every example every epoch in a seeded order); its elements are single examples
or batches (images of rank 4 or vectors of rank 2 are batches), each either the examples
alone, an (examples, labels) pair, or a dict with "x" or "image", "y", "label" or
"labels", and "components".

`fingerprint` identifies the data a run trained on (glow_prior.config.ArraysConfig), so a
rerun into the same run directory with other data is refused.
"""
import dataclasses
import hashlib

import numpy as np

from glow_prior.errors import InputError

EXAMPLE_KEYS = ("x", "image")
LABEL_KEYS = ("y", "label", "labels")


@dataclasses.dataclass
class Examples:
    """x: uint8 images [N, H, W, C] or float vectors [N, D]; y: integer labels [N] (zeros
    when the data has none); components: each example's prior component [N] or None;
    name: what the data is called in messages and reports."""

    x: np.ndarray
    y: np.ndarray = None
    components: np.ndarray = None
    name: str = "arrays"
    labelled: bool = True

    def __len__(self):
        return len(self.x)

    @property
    def images(self):
        """Whether the examples are images (else vectors)."""
        return self.x.ndim == 4


def validation_split(examples, fraction, seed):
    """(training part, validation part) of examples with .x and .y (and .components): a
    seeded `fraction` of them held out, each part in the original order."""
    n = len(examples.x)
    held = np.sort(np.random.default_rng([seed, 17]).permutation(n)[:max(1, int(n * fraction))])
    kept = np.setdiff1d(np.arange(n), held)
    components = getattr(examples, "components", None)

    def part(index):
        return Examples(examples.x[index], examples.y[index],
                        None if components is None else components[index],
                        getattr(examples, "name", "arrays"))

    return part(kept), part(held)


def _integer_vector(values, n, what):
    values = np.asarray(values)
    if values.ndim != 1 or len(values) != n:
        raise InputError(f"{what} must be one integer per example ({n}), got shape "
                         f"{values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise InputError(f"{what} must be integers, got {values.dtype}")
    if values.size and values.min() < 0:
        raise InputError(f"{what} must be non-negative, got {values.min()}")
    return values.astype(np.int64)


def _checked_examples(x, what):
    x = np.asarray(x)
    if x.ndim not in (2, 4):
        raise InputError(f"{what} must be images [N, H, W, C] or vectors [N, D], got shape "
                         f"{x.shape}")
    if len(x) == 0:
        raise InputError(f"{what} holds no examples")
    if x.ndim == 4:
        if not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"{what}: images must be integer pixel values 0..255 (uint8), got "
                             f"{x.dtype}; for floats in [0, 1], pass "
                             "np.round(x * 255).astype(np.uint8)")
        if x.dtype != np.uint8:
            if x.min() < 0 or x.max() > 255:
                raise InputError(f"{what}: pixel values must be in 0..255, got "
                                 f"{x.min()}..{x.max()}")
            x = x.astype(np.uint8)
    elif not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{what}: vectors must be floats, got {x.dtype}")
    elif not np.all(np.isfinite(x)):
        raise InputError(f"{what}: vectors hold NaN or Inf values")
    return x


def examples(data, labels=None, components=None, name="arrays", what="data"):
    """Examples from the user's data (see the module docstring); labels and components,
    when given here, override those the data carries."""
    if isinstance(data, Examples):
        x, y, parts = data.x, data.y if data.labelled else None, data.components
    elif hasattr(data, "element_spec"):
        x, y, parts = _read_dataset(data, what)
    elif hasattr(data, "x") and hasattr(data, "y"):  # an ImageSet or VectorSet
        x, y, parts = data.x, data.y, None
    else:
        x, y, parts = data, None, None
    x = _checked_examples(x, what)
    y = labels if labels is not None else y
    parts = components if components is not None else parts
    labelled = y is not None
    y = np.zeros(len(x), np.int64) if y is None else _integer_vector(y, len(x), f"{what} labels")
    if parts is not None:
        parts = _integer_vector(parts, len(x), f"{what} components")
    return Examples(x, y, parts, name, labelled)


def _read_dataset(dataset, what):
    """(x, y or None, components or None) of a finite tf.data.Dataset, read into memory."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise InputError(f"{what}: the tf.data.Dataset is infinite (repeat()); give one pass "
                         "over the data, training repeats it for every epoch")
    parts = {"x": [], "y": [], "components": []}
    for element in dataset.as_numpy_iterator():
        fields = _fields(element, what)
        batched = np.ndim(fields["x"]) in (2, 4)
        for key, value in fields.items():
            parts[key].append(np.asarray(value) if batched else np.asarray(value)[None])
    if not parts["x"]:
        raise InputError(f"{what}: the tf.data.Dataset is empty")
    return tuple(np.concatenate(parts[key]) if parts[key] else None
                 for key in ("x", "y", "components"))


def _fields(element, what):
    if isinstance(element, dict):
        found = {"x": next((element[k] for k in EXAMPLE_KEYS if k in element), None),
                 "y": next((element[k] for k in LABEL_KEYS if k in element), None),
                 "components": element.get("components")}
        if found["x"] is None:
            raise InputError(f"{what}: dataset elements are dicts without 'x' or 'image' "
                             f"(keys: {sorted(element)})")
        return {key: value for key, value in found.items() if value is not None}
    if isinstance(element, tuple):
        if len(element) != 2:
            raise InputError(f"{what}: dataset elements are tuples of {len(element)}; give "
                             "examples, or (examples, labels)")
        return {"x": element[0], "y": element[1]}
    return {"x": element}


def fingerprint(*arrays):
    """The first 16 hex digits of a SHA-256 over the arrays' dtypes, shapes and bytes
    (None entries skipped): what identifies in-memory data in a run's record."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]
