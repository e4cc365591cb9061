"""Checkpoints: written atomically, read without ever unpickling code.

A checkpoint is a plain dict of tensors, strings and numbers, loadable with
``torch.load(path, weights_only=True)``:
    format, version, label, arch, state_dict, masks, config, metrics
A bare state_dict of our MLP (plain, or in torch.nn.utils.prune's ``*_orig``/``*_mask``
form) is accepted too; its architecture is read off the shapes."""
from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import CheckpointError  # noqa: F401 (re-exported: its long-standing home)
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


def load_checkpoint(source) -> Checkpoint:
    """Open a checkpoint from a path or a binary file-like object (an upload)."""
    name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "upload")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"{name}: no such file")
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{name}: larger than {MAX_CHECKPOINT_BYTES >> 30} GiB; refused")
    try:
        with warnings.catch_warnings():  # a foreign pickle protocol is refused below, not warned about
            warnings.simplefilter("ignore")
            raw = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{name}: refused — it holds pickled Python objects other than tensors and plain "
            f"values (possibly code); nothing was executed. ({str(exc).splitlines()[0]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            IndexError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint (truncated or another "
                              f"kind of file): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    ckpt = _from_raw(raw, name)
    ckpt.path = str(source) if isinstance(source, (str, os.PathLike)) else name
    return ckpt


def _from_raw(raw, name: str) -> Checkpoint:
    if not isinstance(raw, dict):
        raise CheckpointError(f"{name}: holds a {type(raw).__name__}, not a checkpoint dict")
    if raw.get("format") == FORMAT:
        missing = [k for k in ("arch", "state_dict", "masks") if k not in raw]
        if missing:
            raise CheckpointError(f"{name}: a Pruning Explorer checkpoint missing {missing}")
        arch, state_dict, masks = raw["arch"], raw["state_dict"], raw["masks"]
        _check_arch(arch, name)
    elif raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        try:
            state_dict, masks = masks_from_state_dict(raw)
        except (KeyError, RuntimeError) as exc:  # a mask without its weight, or of another shape
            raise CheckpointError(f"{name}: its *_mask entries do not match its weights "
                                  f"({type(exc).__name__}: {exc})") from None
        arch = _infer_arch(state_dict, name)
    else:
        raise CheckpointError(f"{name}: not a Pruning Explorer checkpoint (no 'format' key "
                              "and not a state_dict of tensors)")
    _check_tensors(arch, state_dict, masks, name)
    metrics = raw.get("metrics", {}) if raw.get("format") == FORMAT else {}
    config = raw.get("config", {}) if raw.get("format") == FORMAT else {}
    return Checkpoint(arch=arch, state_dict=state_dict, masks={k: v.bool() for k, v in masks.items()},
                      label=str(raw.get("label", "")), config=config if isinstance(config, dict) else {},
                      metrics=metrics if isinstance(metrics, dict) else {})


def _check_arch(arch, name):
    limits = {"in_features": (1, 100_000), "depth": (1, 64), "width": (1, 16384), "n_classes": (2, 100_000)}
    if not isinstance(arch, dict):
        raise CheckpointError(f"{name}: 'arch' must be a dict")
    for key, (low, high) in limits.items():
        value = arch.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(f"{name}: arch {key}={value!r} is not an integer in [{low}, {high}]")


def _infer_arch(state_dict: dict, name: str) -> dict:
    hidden = sorted((k for k in state_dict if k.startswith("fc") and k.endswith(".weight")),
                    key=lambda k: int(k[2:].split(".")[0]) if k[2:].split(".")[0].isdigit() else -1)
    if not hidden or "out.weight" not in state_dict:
        raise CheckpointError(f"{name}: a state_dict of another architecture (expected fc1 … fcN "
                              f"and out layers; found {sorted(state_dict)[:6]})")
    first, out = state_dict[hidden[0]], state_dict["out.weight"]
    if first.dim() != 2 or out.dim() != 2:
        raise CheckpointError(f"{name}: layer weights must be 2-D matrices")
    arch = {"in_features": int(first.shape[1]), "depth": len(hidden), "width": int(first.shape[0]),
            "n_classes": int(out.shape[0])}
    _check_arch(arch, name)
    return arch


def _check_tensors(arch, state_dict, masks, name):
    if not isinstance(state_dict, dict) or not isinstance(masks, dict):
        raise CheckpointError(f"{name}: state_dict and masks must be dicts of tensors")
    expected = parameter_shapes(arch)
    if set(state_dict) != set(expected):
        raise CheckpointError(f"{name}: its weights do not match the MLP its arch describes "
                              f"(extra {sorted(set(state_dict) - set(expected))[:4]}, "
                              f"missing {sorted(set(expected) - set(state_dict))[:4]})")
    for key, shape in expected.items():
        value = state_dict[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape or not value.is_floating_point():
            raise CheckpointError(f"{name}: {key} should be a float tensor of shape {tuple(shape)}")
    for key, mask in masks.items():
        if key not in expected or not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected[key]:
            raise CheckpointError(f"{name}: mask {key!r} does not match a parameter of the model")
