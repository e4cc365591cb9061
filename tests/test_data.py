import gzip
import urllib.error

import numpy as np
import pytest

from engine import data as data_module
from engine.data import DatasetError, covtype_local_path, load_dataset, read_covtype_file


def write_uci_covtype(path, rows_per_class=12, seed=0):
    """A small file in the original UCI format: 54 integer features, then the cover type 1..7."""
    rng = np.random.default_rng(seed)
    lines = []
    for cover_type in range(1, 8):
        for _ in range(rows_per_class):
            elevation = 2000 + 150 * cover_type + int(rng.integers(0, 100))
            quantitative = [elevation] + [int(v) for v in rng.integers(0, 360, size=9)]
            wilderness = [0, 0, 0, 0]
            wilderness[cover_type % 4] = 1
            soil = [0] * 40
            soil[int(rng.integers(0, 40))] = 1
            lines.append(",".join(map(str, quantitative + wilderness + soil + [cover_type])))
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return len(lines)


def test_digits_split_is_stratified_seeded_and_scaled_on_train_only():
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=0)
    assert a.n_features == 64 and a.n_classes == 10
    assert sum(a.sizes().values()) == 1797
    np.testing.assert_array_equal(a.x_train, b.x_train)
    # every split holds every class in about the same proportion
    for y in (a.y_train, a.y_val, a.y_test):
        assert np.bincount(y, minlength=10).min() > 0.6 * len(y) / 10
    # scaler fitted on train only: train columns are centred, validation ones only roughly
    assert np.abs(a.x_train.mean(0)).max() < 1e-4
    assert np.abs(a.x_val.mean(0)).max() > 1e-3
    assert load_dataset("digits", seed=1).x_train.tobytes() != a.x_train.tobytes()


def test_rows_cap_is_a_stratified_subsample():
    capped = load_dataset("digits", rows=500, seed=0)
    assert sum(capped.sizes().values()) == 500
    assert np.bincount(capped.y_train, minlength=10).min() >= 20


def test_synthetic_is_covertype_shaped_any_size_and_seeded():
    s = load_dataset("synthetic", rows=3000, seed=3)
    assert (s.n_features, s.n_classes) == (54, 7)
    assert sum(s.sizes().values()) == 3000
    assert load_dataset("synthetic", rows=3000, seed=3).x_test.tobytes() == s.x_test.tobytes()


def test_covertype_from_a_local_uci_file(tmp_path):
    path = tmp_path / "covtype.data.gz"
    n = write_uci_covtype(path)
    x, y = read_covtype_file(path)
    assert x.shape == (n, 54) and set(np.unique(y)) == set(range(7))
    splits = load_dataset("covertype", data_path=str(path), seed=0)
    assert (splits.n_features, splits.n_classes) == (54, 7)
    assert sum(splits.sizes().values()) == n


def test_covertype_found_in_the_cache_folder_without_a_path(monkeypatch):
    covtype_local_path().parent.mkdir(parents=True, exist_ok=True)
    write_uci_covtype(covtype_local_path())

    def no_network(**_):
        raise AssertionError("must not fetch when a local copy exists")

    monkeypatch.setattr("sklearn.datasets.fetch_covtype", no_network)
    assert load_dataset("covertype", seed=0).n_classes == 7


def test_covertype_offline_gives_a_clear_message(monkeypatch):
    def offline(**_):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr("sklearn.datasets.fetch_covtype", offline)
    with pytest.raises(DatasetError) as info:
        load_dataset("covertype")
    message = str(info.value)
    assert "covtype.data.gz" in message and str(covtype_local_path()) in message
    assert "digits" in message


def test_bad_covertype_files_are_named(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DatasetError, match="3 columns"):
        read_covtype_file(wrong)
    with pytest.raises(DatasetError, match="no such file"):
        read_covtype_file(tmp_path / "missing.gz")
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DatasetError, match="not a readable"):
        read_covtype_file(garbage)


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="dataset='mnist'"):
        data_module.load_dataset("mnist")


def test_too_few_rows_for_every_split_names_the_minimum():
    with pytest.raises(DatasetError, match="rows=50 is too few for digits.*at least 63 rows"):
        load_dataset("digits", rows=50)


def test_a_checkpoints_data_is_bounded_and_its_config_checked():
    from engine.data import data_for_checkpoint

    arch = {"in_features": 54, "n_classes": 7}
    with pytest.raises(DatasetError, match="more than the"):
        data_for_checkpoint({"dataset": "synthetic", "rows": 5_000_000}, arch)
    with pytest.raises(DatasetError, match="run config is not usable"):
        data_for_checkpoint({"dataset": "digits", "bogus": 1}, arch)
    with pytest.raises(DatasetError, match="does not fit"):
        data_for_checkpoint({"dataset": "digits"}, arch)
    assert data_for_checkpoint({"dataset": "synthetic", "rows": 400}, arch).n_classes == 7


def _sklearn_splits(name, rows, seed, data_path=None):
    """The splits as scikit-learn made them before the engine did it in numpy (engine
    version 2): train_test_split(stratify=...) twice, then StandardScaler on train."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    else:
        x, y, _ = data_module._load_raw(name, rows, seed, data_path)
    if rows is not None and rows < len(y):
        x, _, y, _ = train_test_split(x, y, train_size=rows, stratify=y, random_state=seed)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, stratify=y_rest,
                                                      random_state=seed)
    scaler = StandardScaler().fit(x_train)
    scale = lambda a: scaler.transform(a).astype(np.float32)  # noqa: E731
    return {"x_train": scale(x_train), "y_train": y_train, "x_val": scale(x_val), "y_val": y_val,
            "x_test": scale(x_test), "y_test": y_test}


@pytest.mark.parametrize("name, rows, seed", [
    ("digits", None, 0), ("digits", None, 5), ("digits", 500, 1), ("digits", 1001, 2),
    ("synthetic", 3000, 0), ("synthetic", 777, 3), ("synthetic", None, 4),
    ("covertype", None, 0), ("covertype", 60, 1), ("covertype", None, 9),
])
def test_splits_and_scaling_identical_to_scikit_learn(name, rows, seed, tmp_path):
    path = None
    if name == "covertype":
        path = str(tmp_path / "covtype.data.gz")
        write_uci_covtype(path, rows_per_class=15, seed=seed)
    ours = load_dataset(name, rows, seed, path)
    theirs = _sklearn_splits(name, rows, seed, path)
    for key, expected in theirs.items():
        got = getattr(ours, key)
        assert got.dtype == expected.dtype, key
        np.testing.assert_array_equal(got, expected, err_msg=key)  # bit for bit


def test_loading_digits_or_covertype_does_not_import_scikit_learn(tmp_path):
    import subprocess
    import sys

    write_uci_covtype(tmp_path / "covtype.data.gz")
    code = ("import sys; from engine.data import load_dataset; load_dataset('digits', rows=600); "
            f"load_dataset('covertype', data_path={str(tmp_path / 'covtype.data.gz')!r}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(data_module.Path(__file__).resolve().parents[1]), check=True)
    assert out.stdout.strip() == "[]"
