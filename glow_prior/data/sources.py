"""Image datasets read through tensorflow-datasets by their stock names.

Every dataset is loaded with `tfds.load(<stock name>, data_dir=...)`. With network access
tfds downloads and prepares as usual. Offline, a dataset that is not prepared would make
tfds retry DNS lookups for minutes; `load_images` instead probes the download hosts with a
short timeout and fails at once with a message naming the dataset and the command that
prepares it (`prepare_data` for the datasets that have packaged offline copies).
"""
import dataclasses
import socket
import urllib.parse

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from glow_prior.config.data import IMAGE_DATASETS, OFFLINE_PREPARABLE
from glow_prior.errors import DataUnavailableError, InputError

# Image size the experiments use when --image_size is not given. CelebA is resized and
# centre-cropped to 32x32 as in Kirichenko et al. (2020); the others keep their native size.
DEFAULT_IMAGE_SIZE = {"celeb_a": 32}

_PROBE_TIMEOUT_S = 3.0


@dataclasses.dataclass
class ImageSet:
    """Images as uint8 NHWC with integer labels (0 where a dataset has none)."""

    x: np.ndarray
    y: np.ndarray
    name: str
    split: str

    def __post_init__(self):
        if self.x.dtype != np.uint8 or self.x.ndim != 4:
            raise InputError(
                f"{self.name}/{self.split}: images must be uint8 NHWC, got "
                f"{self.x.dtype} with shape {self.x.shape}")
        if len(self.x) != len(self.y):
            raise InputError(f"{self.name}/{self.split}: {len(self.x)} images but "
                             f"{len(self.y)} labels")

    def __len__(self):
        return len(self.x)

    def take(self, index):
        """The subset at `index` (an index array or boolean mask)."""
        return ImageSet(self.x[index], self.y[index], self.name, self.split)


def prepare_command(name, data_dir):
    """The shell command that prepares `name` without network."""
    target = f" --data_dir={data_dir}" if data_dir else ""
    return f"prepare_data --datasets={name}{target}"


def _host_reachable(url):
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _require_download_hosts(name, data_dir):
    """Raises DataUnavailableError unless every download host of `name` answers."""
    urls = sorted(tfds.builder_cls(name).url_infos or {})
    hosts = {}
    for url in urls:
        hosts.setdefault(urllib.parse.urlparse(url).hostname, url)
    unreachable = [host for host, url in hosts.items() if not _host_reachable(url)]
    if not unreachable:
        return
    where = data_dir or tfds.core.constants.DATA_DIR
    if name in OFFLINE_PREPARABLE:
        fix = f"Prepare it offline with: {prepare_command(name, data_dir)}"
    else:
        fix = (f"Run once on a machine with internet access (tfds.load('{name}', "
               f"data_dir=...)) and copy the prepared '{name}' folder into {where}")
    raise DataUnavailableError(
        f"Dataset '{name}' is not prepared in {where} and its download host(s) "
        f"{', '.join(unreachable)} cannot be reached. {fix}.")


def load_tfds_split(name, split, data_dir=None):
    """`tfds.load(name, split=split)` that fails fast instead of retrying offline."""
    if name not in IMAGE_DATASETS:
        raise InputError(f"Unknown dataset '{name}'; supported: {', '.join(IMAGE_DATASETS)}")
    try:
        return tfds.load(name, split=split, data_dir=data_dir, download=False)
    except AssertionError:
        if tfds.builder(name, data_dir=data_dir).is_prepared():
            raise
    _require_download_hosts(name, data_dir)
    return tfds.load(name, split=split, data_dir=data_dir, download=True)


def _resize_center_crop(image, size):
    """Resizes the shorter side to `size` (area averaging) and centre-crops size x size."""
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    ratio = size / tf.minimum(h, w)
    new_hw = tf.cast(tf.math.ceil(tf.stack([h * ratio, w * ratio])), tf.int32)
    image = tf.image.resize(image, new_hw, method="area")
    image = tf.image.resize_with_crop_or_pad(image, size, size)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _as_arrays(dataset, image_size):
    def to_pair(example):
        image = example["image"]
        if image_size is not None:
            image = _resize_center_crop(image, image_size)
        label = example.get("label", tf.constant(0, tf.int64))
        return image, tf.cast(label, tf.int64)

    images, labels = [], []
    batched = dataset.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE).batch(4096)
    for x, y in batched.as_numpy_iterator():
        images.append(x)
        labels.append(y)
    if not images:
        raise InputError("the split is empty")
    return np.concatenate(images), np.concatenate(labels)


def load_images(name, split, data_dir=None):
    """Loads a whole split into memory as an ImageSet (uint8 NHWC, int64 labels)."""
    dataset = load_tfds_split(name, split, data_dir)
    x, y = _as_arrays(dataset, DEFAULT_IMAGE_SIZE.get(name))
    return ImageSet(x=x, y=y, name=name, split=split)
