"""Tabular loaders: the bundled breast-cancer data, UCI file formats, embeddings, synthetic."""
import numpy as np
import pytest

from glow_prior.config import TabularDataConfig
from glow_prior.data import tabular
from glow_prior.errors import DataUnavailableError


def test_breast_cancer_class_splits_are_standardised_with_in_class_statistics():
    splits = tabular.load_tabular(TabularDataConfig(dataset="breast_cancer",
                                                            in_class=1))
    assert splits.train.x.shape[1] == 30 and set(splits.ood) == {"class_0"}
    # 357 benign (class 1) and 212 malignant examples, 10% of each held out.
    assert len(splits.train) + len(splits.test) == 357
    assert len(splits.ood["class_0"]) == 22
    np.testing.assert_allclose(splits.train.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(splits.train.x.std(axis=0), 1.0, atol=1e-4)
    again = tabular.load_tabular(TabularDataConfig(dataset="breast_cancer",
                                                           in_class=1))
    np.testing.assert_array_equal(splits.test.x, again.test.x)


def test_miniboone_reader_balances_classes(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(7, 50))
    path = tmp_path / "MiniBooNE_PID.txt"
    with open(path, "w") as f:
        f.write("3 4\n")
        np.savetxt(f, rows)
    x, y = tabular.read_miniboone(str(path))
    assert y.tolist() == [1, 1, 1, 0, 0, 0]  # 3 signal, first 3 of 4 background
    np.testing.assert_allclose(x, rows[[0, 1, 2, 3, 4, 5]])
    bad = tmp_path / "bad.txt"
    bad.write_text("2 1\n" + " ".join(["0"] * 50) + "\n")
    with pytest.raises(ValueError, match="expected 3 rows of 50 features"):
        tabular.read_miniboone(str(bad))


def test_hepmass_reader_drops_the_last_test_column_and_repetitive_features(tmp_path):
    rng = np.random.default_rng(1)
    n = 40
    train = np.column_stack([rng.integers(0, 2, n), rng.normal(size=(n, 3))])
    train[:10, 2] = train[:, 2].min() - 1.0  # feature 1: its minimum repeats 10 times
    test = np.column_stack([rng.integers(0, 2, 5), rng.normal(size=(5, 3)), np.ones(5)])
    header = "# label,f0,f1,f2"
    np.savetxt(tmp_path / "1000_train.csv", train, delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "1000_test.csv", test, delimiter=",", header=header + ",extra",
               comments="")
    x, y = tabular.read_hepmass(str(tmp_path))
    assert x.shape == (45, 2)  # f1 removed
    np.testing.assert_allclose(x[:n], train[:, [1, 3]])
    np.testing.assert_array_equal(y[:n], train[:, 0])


def test_missing_uci_file_names_the_flag(tmp_path):
    config = TabularDataConfig(dataset="miniboone", path=str(tmp_path / "none.txt"))
    with pytest.raises(DataUnavailableError, match="--tabular_path"):
        tabular.load_tabular(config)


def test_embeddings_mode(tmp_path):
    rng = np.random.default_rng(2)
    for name, shift in (("train", 0.0), ("test", 0.0), ("svhn_test", 3.0)):
        np.savez(tmp_path / f"{name}.npz", embeddings=rng.normal(shift, 2.0, (50, 6)),
                 labels=rng.integers(0, 10, 50))
    splits = tabular.load_tabular(TabularDataConfig(
        dataset="embeddings", path=str(tmp_path / "train.npz"),
        test_path=str(tmp_path / "test.npz"), ood_paths=(str(tmp_path / "svhn_test.npz"),)))
    assert set(splits.ood) == {"svhn_test"} and splits.train.x.shape == (50, 6)
    np.testing.assert_allclose(splits.train.x.mean(axis=0), 0.0, atol=1e-5)
    assert splits.ood["svhn_test"].x.mean() > 1.0  # standardised with the training stats


def test_synthetic_splits():
    splits = tabular.load_tabular(TabularDataConfig(dataset="synthetic_10d",
                                                            n_train=100, n_test=30))
    assert splits.train.x.shape == (100, 10) and splits.ood["synthetic_ood"].x.shape == (30, 10)
