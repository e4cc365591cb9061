"""Checkpoints: written atomically, read without ever unpickling code.

A checkpoint is a plain dict of tensors, strings and numbers, loadable with
``torch.load(path, weights_only=True)``:
    format, version, label, arch, state_dict, masks, config, metrics
A bare state_dict of our MLP (plain, or in torch.nn.utils.prune's ``*_orig``/``*_mask``
form) is accepted too; its architecture is read off the shapes."""
from __future__ import annotations

import glob
import io
import json
import math
import os
import pickle
import stat
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import CheckpointError  # noqa: F401 (re-exported: its long-standing home)
from .limits import check_checkpoint_size, parameter_count
from .models import MLP, build_model, parameter_shapes
from .pruning import Masks, layer_sparsity, masks_from_state_dict

FORMAT = "pruning-explorer-checkpoint"
FORMAT_VERSION = 1
MAX_CHECKPOINT_BYTES = 2 * 1024**3


# --- atomic writes: a run killed at any moment leaves no half-written file -------------------
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _remove_stale_temporaries(path)


STALE_TMP_SECONDS = 600  # no write of ours takes this long: an older temporary is a dead writer's


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary siblings of ``path`` left by a writer killed mid-write (kill -9)."""
    cutoff = time.time() - STALE_TMP_SECONDS
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:  # another process removed it first
            pass


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# --- save / load -----------------------------------------------------------------------------
def checkpoint_payload(model: MLP, masks: Masks, label: str, config: dict, metrics: dict) -> dict:
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "label": label,
        "arch": dict(model.arch),
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        "masks": {k: v.detach().to("cpu", copy=True) for k, v in masks.items()},
        "config": config, "metrics": metrics,
    }


def save_checkpoint(path, model: MLP, masks: Masks, label: str, config: dict, metrics: dict) -> None:
    buffer = io.BytesIO()
    torch.save(checkpoint_payload(model, masks, label, config, metrics), buffer)
    atomic_write_bytes(path, buffer.getvalue())


@dataclass
class Checkpoint:
    arch: dict
    state_dict: dict
    masks: Masks
    label: str = ""
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    path: str = ""

    def model(self) -> MLP:
        model = build_model(self.arch)
        model.load_state_dict(self.state_dict)
        return model

    def layer_table(self) -> list[dict]:
        rows = layer_sparsity(self.model())
        for row in rows:
            row["shape"] = list(self.state_dict[f"{row['layer']}.weight"].shape)
        return rows


def load_checkpoint(source, limit: int | None = None) -> Checkpoint:
    """Open a checkpoint from a path or a binary file-like object (an upload). Nothing a
    file names is opened, and the work it can cause is bounded before anything is built:
    its architecture must fit ``engine.limits.checkpoint_param_budget(limit)`` and every
    tensor must really hold the data its shape declares. Refusals are one line, and never
    quote the file's content."""
    name = _display_name(source)
    if isinstance(source, (str, os.PathLike)):
        _check_path(Path(source), name)
        with open(source, "rb") as handle:
            head = handle.read(8)
    else:
        head = source.read(8)
        source.seek(0)
    _check_magic(head, name)
    try:
        with warnings.catch_warnings():  # a foreign pickle protocol is refused below, not warned about
            warnings.simplefilter("ignore")
            raw = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{name}: refused — it holds Python objects other than tensors and plain values, "
            "which a checkpoint never needs; nothing was executed") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            IndexError, TypeError, AttributeError, UnicodeDecodeError, MemoryError,
            OverflowError, RecursionError) as exc:
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint (truncated, damaged or "
                              f"another kind of file; {type(exc).__name__})") from None
    ckpt = _from_raw(raw, name, limit)
    ckpt.path = str(source) if isinstance(source, (str, os.PathLike)) else name
    return ckpt


MAX_NAME_CHARS = 120
MAX_LABEL_CHARS = 200
MAX_TEXT_CHARS = 200          # a string saved in config or metrics
MAX_RECORD_BYTES = 64 * 1024  # config and metrics, as JSON


def _display_name(source) -> str:
    name = str(source) if isinstance(source, (str, os.PathLike)) else str(getattr(source, "name", "upload"))
    name = "".join(ch if ch.isprintable() else "?" for ch in name)
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "…"


def _check_path(path: Path, name: str) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no such file") from None
    except OSError as exc:
        raise CheckpointError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
        raise CheckpointError(f"{name}: {kind}, not a checkpoint file; refused")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{name}: larger than {MAX_CHECKPOINT_BYTES >> 30} GiB; refused")


# What a file is when it is not a checkpoint: the first bytes say (torch.save writes a zip,
# or, before PyTorch 1.6, a pickle starting with protocol byte 0x80).
_SIGNATURES = [(b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
               (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive"), (b"\x7fELF", "a program"),
               (b"\x93NUMPY", "a NumPy array file"), (b"\x89HDF", "an HDF5 file")]


def _check_magic(head: bytes, name: str) -> None:
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    if not head:
        raise CheckpointError(f"{name}: an empty file, not a checkpoint")
    kind = next((what for sig, what in _SIGNATURES if head.startswith(sig)), None)
    if kind is None:
        try:
            head.decode("utf-8")
            kind = "a text file"
        except UnicodeDecodeError:
            kind = "another kind of file"
    raise CheckpointError(f"{name}: {kind}, not a PyTorch checkpoint (those are written by torch.save)")


def _from_raw(raw, name: str, limit: int | None = None) -> Checkpoint:
    if not isinstance(raw, dict):
        raise CheckpointError(f"{name}: holds a {type(raw).__name__}, not a checkpoint dict")
    if raw.get("format") == FORMAT:
        missing = [k for k in ("arch", "state_dict", "masks") if k not in raw]
        if missing:
            raise CheckpointError(f"{name}: a Pruning Explorer checkpoint missing {missing}")
        arch, state_dict, masks = raw["arch"], raw["state_dict"], raw["masks"]
        _check_arch(arch, name)
        check_checkpoint_size(_param_count(arch), name, limit)  # before any tensor is touched
        if not isinstance(state_dict, dict) or not isinstance(masks, dict):
            raise CheckpointError(f"{name}: state_dict and masks must be dicts of tensors")
        _check_storage({**state_dict, **{f"mask of {k}": v for k, v in masks.items()}}, name)
    elif raw and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw.items()):
        _check_storage(raw, name)  # before masks_from_state_dict multiplies anything
        shapes = {k: tuple(v.shape) for k, v in raw.items()}
        arch = _infer_arch({k.removesuffix("_orig"): v for k, v in shapes.items()
                            if not k.endswith("_mask")}, name)
        check_checkpoint_size(_param_count(arch), name, limit)
        _check_tensors(arch, {k.removesuffix("_orig"): v for k, v in raw.items() if not k.endswith("_mask")},
                       {k.removesuffix("_mask"): v for k, v in raw.items() if k.endswith("_mask")}, name)
        try:
            state_dict, masks = masks_from_state_dict(raw)
        except (KeyError, RuntimeError):  # a mask without its weight, or of another shape
            raise CheckpointError(f"{name}: its *_mask entries do not match its weights") from None
    else:
        raise CheckpointError(f"{name}: not a Pruning Explorer checkpoint (no 'format' key "
                              "and not a state_dict of tensors)")
    _check_tensors(arch, state_dict, masks, name)
    _check_finite(state_dict, name)
    ours = raw.get("format") == FORMAT
    label = raw.get("label") if ours and isinstance(raw.get("label"), str) else ""
    return Checkpoint(arch=dict(arch), state_dict=state_dict, masks={k: v.bool() for k, v in masks.items()},
                      label=_clip(label, MAX_LABEL_CHARS),
                      config=_plain_record(raw.get("config")) if ours else {},
                      metrics=_plain_record(raw.get("metrics"), numeric=NUMERIC_METRICS) if ours else {})


# Metrics a page formats as numbers: a file giving text there has them dropped.
NUMERIC_METRICS = {"val_acc", "val_loss", "train_acc", "train_loss", "test_acc", "test_loss",
                   "sparsity", "nonzero_params", "lr", "seconds", "epoch", "cycle"}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _plain_record(record, numeric=frozenset()) -> dict:
    """A config or metrics dict as plain JSON values (finite numbers, booleans, short
    strings, None, and small lists or dicts of them); anything else in it is dropped, as is
    a record too large to show."""
    if not isinstance(record, dict):
        return {}

    def plain(value, depth=0):
        if value is None or isinstance(value, bool):
            return True, value
        if isinstance(value, (int, float)):
            return (isinstance(value, int) or math.isfinite(value)), value
        if isinstance(value, str):
            return True, _clip(value, MAX_TEXT_CHARS)
        if depth < 2 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
            items = {k: plain(v, depth + 1) for k, v in value.items()}
            return all(ok for ok, _ in items.values()), {k: v for k, (_, v) in items.items()}
        return False, None

    clean = {}
    for key, value in record.items():
        ok, value = plain(value)
        if not isinstance(key, str) or not ok:
            continue
        if key in numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            continue
        clean[_clip(key, MAX_TEXT_CHARS)] = value
    try:
        if len(json.dumps(clean)) > MAX_RECORD_BYTES:
            return {}
    except (TypeError, ValueError, OverflowError):
        return {}
    return clean


def _param_count(arch: dict) -> int:
    return parameter_count(arch["in_features"], arch["depth"], arch["width"], arch["n_classes"])


_DTYPES = {torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool, torch.uint8, torch.int8}


def _check_storage(tensors: dict, name: str) -> None:
    """Each tensor must really hold the data its shape declares: no stride-0 or overlapping
    views (a 4-byte storage ``expand``-ed to a 10^10-element "weight"), no offsets past
    its storage. So a checkpoint's declared sizes are bounded by the file's size."""
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{name}: {_clip(str(key), 60)} is a {type(value).__name__}, not a tensor")
        if value.layout != torch.strided or value.dtype not in _DTYPES or value.is_quantized:
            raise CheckpointError(f"{name}: {_clip(str(key), 60)} has dtype {value.dtype}; "
                                  "a checkpoint holds plain float or boolean tensors")
        if value.numel() == 0:
            continue
        needed = value.numel() * value.element_size()
        real = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
        overlapping = any(stride < 1 for size, stride in zip(value.shape, value.stride()) if size > 1)
        if overlapping or not value.is_contiguous() and not _dense(value) or real < needed:
            raise CheckpointError(
                f"{name}: {_clip(str(key), 60)} declares shape {tuple(value.shape)} but stores "
                f"{max(real, 0):,} bytes (a view repeating its data); refused")


def _dense(value: torch.Tensor) -> bool:
    """Non-overlapping and dense in some order of its dimensions (e.g. a transposed matrix)."""
    dims = sorted((stride, size) for size, stride in zip(value.shape, value.stride()) if size > 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def _check_finite(state_dict: dict, name: str) -> None:
    for key, value in state_dict.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{name}: {key} holds {bad:,} NaN or infinite values (a diverged "
                                  "model); there is nothing meaningful to inspect")


def _check_arch(arch, name):
    limits = {"in_features": (1, 100_000), "depth": (1, 64), "width": (1, 16384), "n_classes": (2, 100_000)}
    if not isinstance(arch, dict):
        raise CheckpointError(f"{name}: 'arch' must be a dict")
    for key, (low, high) in limits.items():
        value = arch.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(f"{name}: arch {key}={_clip(repr(value), 40)} is not an integer in [{low}, {high}]")


def _keys(keys, count: int = 4) -> list[str]:
    """A few of a file's keys, clipped, for a message."""
    return [_clip(str(k), 40) for k in sorted(map(str, keys))[:count]]


def _infer_arch(shapes: dict[str, tuple], name: str) -> dict:
    hidden = sorted((k for k in shapes if k.startswith("fc") and k.endswith(".weight")),
                    key=lambda k: int(k[2:].split(".")[0]) if k[2:].split(".")[0].isdigit() else -1)
    if not hidden or "out.weight" not in shapes:
        raise CheckpointError(f"{name}: a state_dict of another architecture (expected fc1 … fcN "
                              f"and out layers; found {_keys(shapes, 6)})")
    first, out = shapes[hidden[0]], shapes["out.weight"]
    if len(first) != 2 or len(out) != 2:
        raise CheckpointError(f"{name}: layer weights must be 2-D matrices")
    arch = {"in_features": int(first[1]), "depth": len(hidden), "width": int(first[0]),
            "n_classes": int(out[0])}
    _check_arch(arch, name)
    return arch


def _check_tensors(arch, state_dict, masks, name):
    if not isinstance(state_dict, dict) or not isinstance(masks, dict):
        raise CheckpointError(f"{name}: state_dict and masks must be dicts of tensors")
    expected = parameter_shapes(arch)
    if set(state_dict) != set(expected):
        raise CheckpointError(f"{name}: its weights do not match the MLP its arch describes "
                              f"(extra {_keys(set(state_dict) - set(expected))}, "
                              f"missing {_keys(set(expected) - set(state_dict))})")
    for key, shape in expected.items():
        value = state_dict[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape or not value.is_floating_point():
            raise CheckpointError(f"{name}: {key} should be a float tensor of shape {tuple(shape)}")
    for key, mask in masks.items():
        if key not in expected or not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected[key]:
            raise CheckpointError(f"{name}: mask {_keys([key])[0]!r} does not match a parameter of the model")
