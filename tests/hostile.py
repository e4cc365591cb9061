"""Hostile checkpoint files, built byte by byte.

``torch.save`` cannot write most attacks (a 4-byte storage declared as a 10^10-element
weight, a view starting past its storage, a mask whose strides overlap), so ``craft``
writes the zip that ``torch.load`` reads, with any storage, offset, shape and stride.
``generate`` draws a reproducible stream of such files for the fuzz test."""
from __future__ import annotations

import collections
import io
import os
import math
import pickle
import random
import zipfile

import torch
import torch._utils

from engine import checkpoints
from engine.models import parameter_shapes

_STORAGE_CLASSES = {torch.float32: torch.FloatStorage, torch.float64: torch.DoubleStorage,
                    torch.float16: torch.HalfStorage, torch.bool: torch.BoolStorage,
                    torch.uint8: torch.ByteStorage, torch.int64: torch.LongStorage}


class Storage:
    def __init__(self, data: bytes, dtype=torch.float32, numel: int | None = None):
        self.data, self.dtype = data, dtype
        self.numel = numel if numel is not None else len(data) // torch.empty(0, dtype=dtype).element_size()
        self.key = None


class View:
    """A tensor as torch pickles it: a storage plus offset, shape and stride."""

    def __init__(self, storage: Storage, size, stride=None, offset: int = 0):
        self.storage, self.size, self.offset = storage, tuple(size), offset
        self.stride = tuple(stride) if stride is not None else _contiguous(self.size)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


def _contiguous(size):
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def dense(tensor: torch.Tensor) -> View:
    tensor = tensor.contiguous()
    return View(Storage(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else b"",
                        tensor.dtype), tensor.shape)


def craft(obj) -> bytes:
    storages: list[Storage] = []

    class Pickler(pickle.Pickler):
        def persistent_id(self, item):
            if isinstance(item, Storage):
                if item.key is None:
                    item.key = str(len(storages))
                    storages.append(item)
                return ("storage", _STORAGE_CLASSES[item.dtype], item.key, "cpu", item.numel)
            return None

    payload = io.BytesIO()
    Pickler(payload, protocol=2).dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", payload.getvalue())
        archive.writestr("archive/byteorder", "little")
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage.data)
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def checkpoint(arch_: dict, tensors: dict | None = None, masks: dict | None = None, **fields) -> dict:
    """A checkpoint payload for ``craft``: real small tensors unless given."""
    state = tensors if tensors is not None else {
        k: dense(torch.randn(s) * 0.1) for k, s in parameter_shapes(arch_).items()}
    return {"format": checkpoints.FORMAT, "version": 1, "label": "x", "arch": arch_,
            "state_dict": state, "masks": masks if masks is not None else {},
            "config": {}, "metrics": {}, **fields}


SMALL = {"in_features": 64, "depth": 2, "width": 16, "n_classes": 10}


def expanded(shape) -> View:
    """One float repeated to any shape (torch.zeros(1).expand(*shape))."""
    return View(Storage(b"\0" * 4), shape, stride=(0,) * len(shape))


def generate(count: int, seed: int = 0, canary: str = "/etc/passwd"):
    """(description, bytes) of hostile or odd checkpoints: random shapes, strides, dtypes,
    NaN/inf, wrong types in every field, huge declared sizes, files of other kinds."""
    rng = random.Random(seed)
    huge = {"in_features": 100_000, "depth": 64, "width": 16384, "n_classes": 100_000}
    wrong_values = [None, "abc", 1e308, float("nan"), -1, True, [1, 2], {"a": 1}, "x" * 100_000,
                    10**30, b"bytes"]
    for i in range(count):
        kind = rng.choice(["expand", "offset", "overlap", "dtype", "nonfinite", "field", "arch",
                           "bare-expand", "mask-broadcast", "shape", "other-file", "fine"])
        arch = dict(SMALL)
        shapes = parameter_shapes(arch)
        if kind == "expand":
            big = rng.choice([arch, huge, {**SMALL, "width": 16384}])
            tensors = {k: expanded(s) for k, s in parameter_shapes(big).items()}
            yield kind, craft(checkpoint(big, tensors))
        elif kind == "offset":
            key = rng.choice(list(shapes))
            tensors = {k: dense(torch.zeros(s)) for k, s in shapes.items()}
            n = math.prod(shapes[key])
            tensors[key] = View(Storage(b"\0" * 4 * n), shapes[key], offset=rng.randint(1, n))
            yield kind, craft(checkpoint(arch, tensors))
        elif kind == "overlap":
            key = rng.choice([k for k in shapes if k.endswith("weight")])
            rows, cols = shapes[key]
            tensors = {k: dense(torch.zeros(s)) for k, s in shapes.items()}
            tensors[key] = View(Storage(b"\0" * 4 * (rows + cols)), (rows, cols), stride=(1, 1))
            yield kind, craft(checkpoint(arch, tensors))
        elif kind == "dtype":
            key = rng.choice(list(shapes))
            dtype = rng.choice([torch.int64, torch.uint8, torch.bool])
            tensors = {k: dense(torch.zeros(s)) for k, s in shapes.items()}
            tensors[key] = dense(torch.zeros(shapes[key], dtype=dtype))
            yield kind, craft(checkpoint(arch, tensors))
        elif kind == "nonfinite":
            key = rng.choice(list(shapes))
            tensors = {k: dense(torch.randn(s)) for k, s in shapes.items()}
            bad = torch.randn(shapes[key])
            bad.view(-1)[rng.randrange(bad.numel())] = rng.choice([float("nan"), float("inf"), -float("inf")])
            tensors[key] = dense(bad)
            yield kind, craft(checkpoint(arch, tensors))
        elif kind == "field":
            field = rng.choice(["label", "config", "metrics", "masks", "state_dict", "arch", "version"])
            value = rng.choice(wrong_values)
            if field in ("config", "metrics") and rng.random() < 0.5:
                value = {rng.choice(["val_acc", "test_acc", "epoch", "when", "dataset", "rows", "data_path"]): value}
            if field == "config" and rng.random() < 0.5:  # a real config naming a file elsewhere
                value = {"dataset": "covertype", "data_path": canary, "depth": 2, "width": 16}
            yield kind, craft(checkpoint(arch, **{field: value}))
        elif kind == "arch":
            key = rng.choice(list(SMALL))
            yield kind, craft(checkpoint({**arch, key: rng.choice(wrong_values + [0, 10**9])},
                                         {k: dense(torch.zeros(s)) for k, s in shapes.items()}))
        elif kind == "bare-expand":
            big = rng.choice([huge, {**SMALL, "depth": 64, "width": 16384}])
            raw = {k: expanded(s) for k, s in parameter_shapes(big).items()}
            yield kind, craft(raw)
        elif kind == "mask-broadcast":
            raw = {k: dense(torch.zeros(s)) for k, s in shapes.items()}
            raw["fc1.weight_orig"] = raw.pop("fc1.weight")
            raw["fc1.weight_mask"] = dense(torch.ones(rng.choice([(16, 1), (1, 64), (4096, 1, 1)])))
            yield kind, craft(raw)
        elif kind == "shape":
            key = rng.choice(list(shapes))
            tensors = {k: dense(torch.zeros(s)) for k, s in shapes.items()}
            tensors[key] = dense(torch.zeros(tuple(rng.randint(0, 40) for _ in range(rng.randint(0, 3)))))
            yield kind, craft(checkpoint(arch, tensors))
        elif kind == "other-file":
            yield kind, rng.choice([b"\x89PNG\r\n\x1a\n" + bytes(100), b"# README\n\nhello\n", b"",
                                    b"PK\x03\x04" + bytes(rng.randrange(100)), bytes(rng.randrange(256) for _ in range(64)),
                                    pickle.dumps({"format": checkpoints.FORMAT}), b"\x80\x02" + bytes(10)])
        else:
            yield kind, craft(checkpoint(arch, label=rng.choice(["a", "[x](http://h)", "x" * 5_000_000]),
                                         metrics={"val_acc": rng.random(), "when": "w" * rng.randrange(1000)}))


# --- the fuzz run: ``python tests/hostile.py ROOT COUNT SEED`` ------------------------------------
def fuzz(root: str, count: int, seed: int) -> dict:
    """Feed ``count`` generated files to the CLI (``inspect``, text and JSON) and to the
    inspector's code path (what pages/inspector.py calls, upload and run-folder forms),
    in this process, recording refusals, escapes, peak memory and every file opened."""
    import contextlib
    import resource
    import sys
    from pathlib import Path

    from engine import analysis
    from engine.checkpoints import CheckpointError, load_checkpoint
    from engine.cli import main
    from engine.data import DatasetError
    from engine.sensitivity import checkpoint_sensitivity

    root_path = Path(root)
    run_dir = root_path / "checkpoints" / "fuzz-run"
    run_dir.mkdir(parents=True)
    canary = root_path / "canary" / "covtype.data.gz"
    canary.parent.mkdir()
    canary.write_text("root:x:0:0:CANARY\n")
    opened: list[str] = []
    recording = [False]

    def audit(event, args):
        if recording[0] and event == "open" and args and isinstance(args[0], (str, bytes)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(audit)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    recording[0] = True
    for i, (kind, data) in enumerate(generate(count, seed, canary=str(canary))):
        path = run_dir / f"cycle_{i:02d}_post.pt"
        path.write_bytes(data)
        # the CLI
        for args in (["inspect", str(path)], ["inspect", str(path), "--json"]):
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = main(args)
            except BaseException as exc:  # noqa: BLE001 - anything escaping is the finding
                problems.append(f"{kind}: CLI raised {type(exc).__name__}")
                continue
            if code != 0 and (err.getvalue().count("\n") != 1 or not err.getvalue().startswith("error: ")):
                problems.append(f"{kind}: CLI error is not one line: {err.getvalue()[:200]!r}")
            if "CANARY" in out.getvalue() + err.getvalue():
                problems.append(f"{kind}: the canary's content was shown")
        # the inspector's code path, as an upload and as a run's file
        for source in (lambda: _named(data, f"upload-{i}.pt"), lambda: str(path)):
            try:
                ckpt = load_checkpoint(source())
            except CheckpointError as exc:
                outcomes[f"{kind}: refused"] = outcomes.get(f"{kind}: refused", 0) + 1
                if "\n" in str(exc) or len(str(exc)) > 700:
                    problems.append(f"{kind}: refusal is not one short line")
                continue
            except BaseException as exc:  # noqa: BLE001
                problems.append(f"{kind}: load raised {type(exc).__name__}: {str(exc)[:120]}")
                continue
            try:
                table = analysis.layer_table(ckpt)
                analysis.weight_histograms(ckpt)
                for layer in table.layer:
                    image = analysis.mask_image(ckpt, layer)
                    assert max(image.shape) <= 512
                analysis.sizes_on_disk(data, ckpt)
                for score in (lambda: analysis.confusion_matrix(ckpt), lambda: checkpoint_sensitivity(ckpt, 0.5)):
                    try:
                        score()
                    except (analysis.AnalysisError, DatasetError) as exc:
                        if "\n" in str(exc) or "CANARY" in str(exc):
                            problems.append(f"{kind}: data refusal quotes or spans lines")
                outcomes[f"{kind}: shown"] = outcomes.get(f"{kind}: shown", 0) + 1
            except BaseException as exc:  # noqa: BLE001
                problems.append(f"{kind}: display raised {type(exc).__name__}: {str(exc)[:120]}")
    recording[0] = False
    return {"baseline_kib": baseline, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "outcomes": outcomes, "problems": problems, "opened": sorted(set(opened))}


def _named(data: bytes, name: str):
    source = io.BytesIO(data)
    source.name = name
    return source


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(fuzz(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
