"""The tfds path for datasets that cannot be downloaded here, with tfds.testing.mock_data."""
import numpy as np
import tensorflow_datasets as tfds

from glow_prior.config import DataConfig
from glow_prior.data import load_train_test, sources


def test_cifar10_svhn_and_celeb_a_through_tfds_mock_data():
    with tfds.testing.mock_data(num_examples=6):
        cifar = sources.load_images("cifar10", "train")
        svhn = sources.load_images("svhn_cropped", "test")
        celeb = sources.load_images("celeb_a", "train")
    assert cifar.x.shape == (6, 32, 32, 3) and cifar.x.dtype == np.uint8
    assert cifar.y.dtype == np.int64 and cifar.y.max() < 10
    assert svhn.x.shape == (6, 32, 32, 3)
    # CelebA (218x178) is resized and centre-cropped to 32x32; it has no class label.
    assert celeb.x.shape == (6, 32, 32, 3) and not celeb.y.any()


def test_label_filter_and_clusters_on_mock_cifar10():
    with tfds.testing.mock_data(num_examples=80):
        train, test = load_train_test(DataConfig(dataset="cifar10", labels=(0, 4),
                                                 kmeans_clusters=2, kmeans_keep=0))
        again, _ = load_train_test(DataConfig(dataset="cifar10", labels=(0, 4),
                                              kmeans_clusters=2, kmeans_keep=0))
    assert set(train.y.tolist()) <= {0, 4} and set(test.y.tolist()) <= {0, 4}
    assert 0 < len(train) < 80
    np.testing.assert_array_equal(train.x, again.x)
