"""Data sets: scikit-learn's bundled digits (default, offline), UCI Covertype (fetched
and cached, or read from a local covtype.data.gz), and Covertype-shaped synthetic data.

Every data set is split the same way: stratified, seeded train / validation / test,
with the scaler fitted on the train split only."""
from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass
from math import ceil
from pathlib import Path

import numpy as np

from .config import RunConfig
from .settings import DATASETS
from .errors import ConfigError, DatasetError  # noqa: F401 (DatasetError: re-exported, its old home)
from .paths import cache_dir

COVTYPE_FEATURES = 54
COVTYPE_CLASSES = 7
SYNTHETIC_DEFAULT_ROWS = 20_000
TEST_FRACTION = 0.2
VAL_FRACTION = 0.2  # of what remains after the test split


@dataclass
class DataSplits:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_features: int
    n_classes: int
    class_names: list[str]

    def sizes(self) -> dict:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def covtype_local_path() -> Path:
    """Where a user may drop covtype.data.gz for offline use."""
    return cache_dir() / "covtype.data.gz"


def read_covtype_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the original UCI file: comma-separated, 54 feature columns then the cover
    type 1..7. Returns float32 features and int64 labels 0..6."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"data_path={str(path)!r}: no such file; give the path of covtype.data.gz")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:
        # Never quote the line that failed: the message may reach a web page, and the file
        # may be one the user had no business reading.
        raise DatasetError(f"{path} is not a readable Covertype file in the UCI format "
                           f"(55 comma-separated integers per line; {type(exc).__name__})") from None
    if table.shape[1] != COVTYPE_FEATURES + 1:
        raise DatasetError(f"{path} has {table.shape[1]} columns per line; the UCI Covertype "
                           f"format has {COVTYPE_FEATURES + 1}")
    labels = table[:, -1]
    if labels.min() < 1 or labels.max() > COVTYPE_CLASSES:
        raise DatasetError(f"{path}: cover types must be 1..7, found {labels.min()}..{labels.max()}")
    return table[:, :-1].astype(np.float32), labels - 1


def _load_covtype(data_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    if data_path:
        return read_covtype_file(data_path)
    if covtype_local_path().is_file():
        return read_covtype_file(covtype_local_path())
    from sklearn.datasets import fetch_covtype

    try:
        bunch = fetch_covtype(data_home=str(cache_dir() / "sklearn"), download_if_missing=True)
    except Exception as exc:  # URLError, socket errors, HTTP errors: all mean "offline"
        raise DatasetError(
            "Covertype is not cached and could not be downloaded "
            f"({type(exc).__name__}: {exc}). Put the UCI file covtype.data.gz at "
            f"{covtype_local_path()} (or pass its path as data_path / --data-path), "
            "or pick the 'digits' or 'synthetic' data set.") from None
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64) - 1


def _load_raw(name: str, rows: int | None, seed: int, data_path: str | None):
    if name == "digits":
        x, y = read_digits()
        return x, y, [str(c) for c in range(10)]
    if name == "covertype":
        x, y = _load_covtype(data_path)
        names = ["Spruce/Fir", "Lodgepole Pine", "Ponderosa Pine", "Cottonwood/Willow",
                 "Aspen", "Douglas-fir", "Krummholz"]
        return x, y, names
    if name == "synthetic":
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=rows or SYNTHETIC_DEFAULT_ROWS, n_features=COVTYPE_FEATURES,
            n_informative=20, n_redundant=10, n_classes=COVTYPE_CLASSES,
            n_clusters_per_class=3, class_sep=1.0, random_state=seed)
        return x.astype(np.float32), y.astype(np.int64), [f"class {c}" for c in range(COVTYPE_CLASSES)]
    raise DatasetError(f"dataset={name!r} is invalid: must be one of {', '.join(DATASETS)}")


def load_dataset(name: str = "digits", rows: int | None = None, seed: int = 0,
                 data_path: str | None = None) -> DataSplits:
    x, y, class_names = _load_raw(name, rows, seed, data_path)
    if rows is not None and rows < len(y):
        keep, _ = stratified_split(y, train_size=rows, seed=seed)
        x, y = x[keep], y[keep]
    # Classes with fewer than 3 rows cannot be stratified into three splits.
    counts = np.bincount(y, minlength=len(class_names))
    if (counts[counts > 0] < 3).any():
        raise DatasetError(f"{name}: some classes have fewer than 3 rows ({counts.tolist()}); "
                           "use more rows")
    n_classes = int((counts > 0).sum())
    smallest = round(len(y) * (1 - TEST_FRACTION) * VAL_FRACTION)  # the validation split
    if min(smallest, round(len(y) * TEST_FRACTION)) < n_classes:
        needed = int(np.ceil(n_classes / ((1 - TEST_FRACTION) * VAL_FRACTION)))
        raise DatasetError(f"rows={len(y)} is too few for {name}: every split must hold each of "
                           f"its {n_classes} classes; use at least {needed} rows")
    rest, test = stratified_split(y, test_size=TEST_FRACTION, seed=seed)
    x_rest, x_test, y_rest, y_test = x[rest], x[test], y[rest], y[test]
    train, val = stratified_split(y_rest, test_size=VAL_FRACTION, seed=seed)
    x_train, x_val, y_train, y_val = x_rest[train], x_rest[val], y_rest[train], y_rest[val]
    scale = standard_scaler(x_train)
    return DataSplits(name, scale(x_train), y_train, scale(x_val), y_val, scale(x_test), y_test,
                      n_features=x.shape[1], n_classes=len(class_names), class_names=class_names)


# --- scikit-learn's split and scaler in numpy ----------------------------------------------------
# Importing any part of scikit-learn costs about a second here (it loads scipy.stats and
# pandas); a run on digits or Covertype needs none of it. These follow scikit-learn 1.x
# step by step (train_test_split(stratify=y) = StratifiedShuffleSplit; StandardScaler),
# so the splits and the scaled values are identical: tests/test_data.py compares them
# with scikit-learn's on every data set.
def stratified_split(y: np.ndarray, *, seed: int, test_size: float | None = None,
                     train_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) as ``train_test_split(..., stratify=y,
    random_state=seed)`` picks them, for a float ``test_size`` or an int ``train_size``."""
    n = len(y)
    if train_size is None:
        n_test = ceil(test_size * n)
        n_train = n - n_test
    else:
        n_train, n_test = train_size, n - train_size
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i, indices in enumerate(class_indices):
        shuffled = indices.take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(shuffled[:n_i[i]])
        test.extend(shuffled[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many rows of each class a stratified draw takes (ties broken by ``rng``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def standard_scaler(x_train: np.ndarray):
    """``StandardScaler().fit(x_train)``: mean and variance accumulated in float64 (the
    two-pass algorithm with its correction term), near-constant features left unscaled;
    returns the transform, which gives float32."""
    n = x_train.shape[0]
    total = np.sum(x_train, axis=0, dtype=np.float64)
    counts = np.full(x_train.shape[1], float(n))
    mean = total / counts
    centred = x_train - mean
    correction = np.sum(centred, axis=0)
    centred **= 2
    var = (np.sum(centred, axis=0) - correction**2 / counts) / counts
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0

    def transform(a: np.ndarray) -> np.ndarray:
        out = np.array(a, dtype=a.dtype if a.dtype in (np.float32, np.float64) else np.float64)
        out -= mean.astype(out.dtype)  # in the data's own precision, as scikit-learn does
        out /= scale.astype(out.dtype)
        return out.astype(np.float32, copy=False)
    return transform


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits (the file ``load_digits`` reads), without importing
    scikit-learn: float32 pixels and int64 labels."""
    spec = importlib.util.find_spec("sklearn")  # finds the package, does not import it
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the digits data set comes with scikit-learn: pip install scikit-learn")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",")
    return table[:, :-1].astype(np.float32), table[:, -1].astype(int).astype(np.int64)


# Regenerating a checkpoint's synthetic data is bounded: an uploaded file's config must not
# make the app generate (or hold) hundreds of thousands of rows just to score it.
CHECKPOINT_MAX_SYNTHETIC_ROWS = 200_000


def available_offline(config: RunConfig) -> bool:
    """Whether the data set loads without a download (digits is bundled; synthetic is made
    here; covertype only from a local file or scikit-learn's cache)."""
    if config.dataset != "covertype":
        return True
    local = [config.data_path, covtype_local_path(), cache_dir() / "sklearn" / "covertype"]
    return any(path and Path(path).exists() for path in local)


def data_for_checkpoint(config: dict, arch: dict, download: bool = True,
                        data_path: str | None = None) -> DataSplits:
    """The data a checkpoint was trained on, reloaded from its saved config (same data set,
    rows and seed, so the same split): the one loader for a checkpoint's data. With
    ``download=False`` a data set that is not on this machine is not fetched. DatasetError
    says why not, when it cannot be.

    A checkpoint may come from anyone: a path saved in it is never opened. Its data come
    from the data sets this server is configured with (Covertype: the file at
    ``covtype_local_path()`` or scikit-learn's cache), or from ``data_path``, a file the
    caller itself names (the CLI's --data-path)."""
    if not config:
        raise DatasetError("this checkpoint carries no run config, so its data split is unknown")
    try:
        run_config = RunConfig.from_dict({**config, "data_path": data_path}).validate()
    except (ConfigError, TypeError) as exc:
        raise DatasetError(f"its run config is not usable: {exc}") from None
    if run_config.dataset == "synthetic" and (run_config.rows or 0) > CHECKPOINT_MAX_SYNTHETIC_ROWS:
        raise DatasetError(f"its synthetic data has rows={run_config.rows}, more than the "
                           f"{CHECKPOINT_MAX_SYNTHETIC_ROWS:,} regenerated to score a checkpoint")
    # Generated data must also fit one session's share of this machine (a small server).
    from .limits import estimate_run_bytes, human, session_limit

    needed, allowed = estimate_run_bytes(run_config)["data"], session_limit()
    if run_config.dataset == "synthetic" and needed > allowed:
        raise DatasetError(f"its data ({run_config.dataset}, rows={run_config.rows}) would take about "
                           f"{human(needed)} to regenerate; a session may use {human(allowed)}")
    if not download and not available_offline(run_config):
        raise DatasetError(f"data set {run_config.dataset!r} is not on this machine (and is not "
                           "downloaded for this)")
    data = load_dataset(run_config.dataset, run_config.rows, run_config.seed, run_config.data_path)
    if (data.n_features, data.n_classes) != (arch["in_features"], arch["n_classes"]):
        raise DatasetError(
            f"its architecture ({arch['in_features']} inputs, {arch['n_classes']} classes) does "
            f"not fit data set {run_config.dataset!r} ({data.n_features} features, "
            f"{data.n_classes} classes)")
    return data
