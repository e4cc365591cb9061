"""What sparsity buys at inference, measured on one checkpoint.

Sizes: the file as saved; masks baked into a dense fp32 state_dict; that gzip-compressed;
sparse CSR with 32-bit indices; structured-shrunk dense (hidden neurons that can no
longer matter removed); INT8 dynamically quantized, raw and gzip-compressed.

Latency on the CPU at batch 1 and 1024 for dense, sparse CSR, structured-shrunk and
INT8 forms. Every form is checked against the masked dense model on the same inputs:
the exact forms must give the same predictions, INT8 within ``INT8_MIN_AGREEMENT``.
On a GPU, 2:4 semi-structured weights are timed against dense (skipped, with the
reason, elsewhere)."""
from __future__ import annotations

import gzip
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoints import Checkpoint
from .data import DatasetError, data_for_checkpoint
from .formats import checkpoint_sparsity
from .pruning import n_of_m_mask
from .training import cpu_threads

INT8_MIN_AGREEMENT = 0.95  # INT8 must give the dense model's prediction on >= 95% of rows
EXACT_ATOL = 1e-4          # exact forms: logits within this of the dense model's
CHECK_ROWS = 1024
LATENCY_BATCHES = (1, 1024)
LATENCY_THREADS = 1
SEMI_STRUCTURED_MIN_DIM = 256  # smaller layers are not worth 2:4 kernels


# --- the forms ---------------------------------------------------------------------------------
def dense_layers(ckpt: Checkpoint) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) per layer, fc1 … out, masks baked in."""
    model = ckpt.model()
    with torch.no_grad():
        named = dict(model.named_parameters())
        for name, mask in ckpt.masks.items():
            named[name].mul_(mask)
    return [(layer.weight.detach().clone(), layer.bias.detach().clone()) for _, layer in model.layers()]


class CsrStack(nn.Module):
    """The same MLP with every weight stored as sparse CSR (32-bit indices)."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]):
        super().__init__()
        self.weights = [to_csr32(w) for w, _ in layers]
        self.biases = [b for _, b in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.sparse.mm(w, x.t()).t() + b  # (W x^T)^T: CSR must be the left operand
            x = torch.relu(x) if i < last else x
        return x


def to_csr32(weight: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        csr = weight.to_sparse_csr()
        return torch.sparse_csr_tensor(csr.crow_indices().to(torch.int32),
                                       csr.col_indices().to(torch.int32), csr.values(), csr.shape)


def shrink(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Remove hidden neurons that cannot change the output, until none is left:
    - an all-zero outgoing column: the neuron feeds nothing;
    - an all-zero incoming row: the neuron outputs the constant relu(bias), which is
      folded into the next layer's bias before the neuron is dropped.
    Inputs and classes are kept, so the shrunk model is a drop-in replacement."""
    layers = [(w.clone(), b.clone()) for w, b in layers]
    changed = True
    while changed:
        changed = False
        for i in range(len(layers) - 1):  # hidden layer i feeds layer i + 1
            (w, b), (w_next, b_next) = layers[i], layers[i + 1]
            dead_in = ~w.any(dim=1)
            dead_out = ~w_next.any(dim=0)
            drop = dead_in | dead_out
            if not drop.any():
                continue
            constant = torch.relu(b) * (dead_in & ~dead_out)
            b_next = b_next + w_next @ constant
            keep = ~drop
            layers[i] = (w[keep], b[keep])
            layers[i + 1] = (w_next[:, keep], b_next)
            changed = True
    return layers


def quantize_int8(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> nn.Module:
    """Dynamic INT8: int8 weights (per tensor), activations quantized on the fly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        return torch.ao.quantization.quantize_dynamic(as_sequential(layers), {nn.Linear},
                                                      dtype=torch.qint8)


def as_sequential(layers) -> nn.Sequential:
    """The MLP given as per-layer (weight, bias), widths free to differ layer to layer, as
    plain Linear/ReLU modules on the weights' device and dtype: the one form every dense
    export (masks baked in, structured-shrunk, INT8, fp16 on a GPU) is measured in."""
    modules = []
    for i, (w, b) in enumerate(layers):
        linear = nn.Linear(w.shape[1], w.shape[0], device=w.device, dtype=w.dtype)
        with torch.no_grad():
            linear.weight.copy_(w)
            linear.bias.copy_(b)
        modules += [linear] + ([nn.ReLU()] if i < len(layers) - 1 else [])
    return nn.Sequential(*modules).eval()


# --- sizes -------------------------------------------------------------------------------------
def _saved_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def baked_bytes(ckpt: Checkpoint) -> bytes:
    """The dense fp32 weights with the masks baked in, as torch.save writes them."""
    return _saved_bytes(_layer_dict(dense_layers(ckpt)))


def _layer_dict(layers) -> dict:
    return {f"{i}.{part}": t for i, (w, b) in enumerate(layers) for part, t in (("weight", w), ("bias", b))}


def _csr_dict(layers) -> dict:
    out = {}
    for i, (w, b) in enumerate(layers):
        csr = to_csr32(w)
        out.update({f"{i}.crow": csr.crow_indices(), f"{i}.col": csr.col_indices(),
                    f"{i}.values": csr.values(), f"{i}.bias": b})
    return out


@dataclass
class Forms:
    """The checkpoint's model in every form we measure."""
    dense: list            # [(weight, bias)], masks baked in
    shrunk: list           # structured-shrunk [(weight, bias)]
    int8: nn.Module

    @classmethod
    def of(cls, ckpt: Checkpoint) -> "Forms":
        dense = dense_layers(ckpt)
        return cls(dense=dense, shrunk=shrink(dense), int8=quantize_int8(dense))

    def models(self) -> dict[str, nn.Module]:
        return {"dense": as_sequential(self.dense), "sparse CSR": CsrStack(self.dense).eval(),
                "structured-shrunk": as_sequential(self.shrunk), "INT8 dynamic": self.int8}


def parameter_counts(ckpt: Checkpoint, forms: Forms | None = None) -> dict:
    forms = forms or Forms.of(ckpt)
    dense = sum(w.numel() + b.numel() for w, b in forms.dense)
    nonzero = sum(int(w.count_nonzero()) + int(b.count_nonzero()) for w, b in forms.dense)
    shrunk = sum(w.numel() + b.numel() for w, b in forms.shrunk)
    widths = [w.shape[0] for w, _ in forms.shrunk[:-1]]
    # sparsity: the one definition (pruned weight matrices, no biases), as every page shows it
    return {"dense_params": dense, "nonzero_params": nonzero, "sparsity": checkpoint_sparsity(ckpt),
            "shrunk_params": shrunk, "shrunk_widths": widths}


def size_table(ckpt: Checkpoint, forms: Forms | None = None, saved_bytes: int | None = None) -> list[dict]:
    """Bytes of each form (serialized with torch.save, as a file would hold them).
    ``saved_bytes``: the size of the file as saved, when the caller has its bytes."""
    forms = forms or Forms.of(ckpt)
    saved = saved_bytes or _saved_file_bytes(ckpt)
    baked = _saved_bytes(_layer_dict(forms.dense))
    int8 = _saved_bytes(forms.int8.state_dict())
    rows = [("as saved (weights + masks + metadata)", saved),
            ("masks baked in, dense fp32", len(baked)),
            ("dense fp32, gzip", len(gzip_bytes(baked))),
            ("sparse CSR, 32-bit indices", len(_saved_bytes(_csr_dict(forms.dense)))),
            ("structured-shrunk dense fp32", len(_saved_bytes(_layer_dict(forms.shrunk)))),
            ("INT8 dynamic", len(int8)),
            ("INT8 dynamic, gzip", len(gzip_bytes(int8)))]
    dense_bytes = len(baked)
    return [{"form": form, "bytes": size, "smaller_than_dense": dense_bytes / size}
            for form, size in rows]


def _saved_file_bytes(ckpt: Checkpoint) -> int:
    path = Path(ckpt.path) if ckpt.path else None
    if path is not None and path.is_file():
        return path.stat().st_size
    return len(_saved_bytes({"arch": ckpt.arch, "state_dict": ckpt.state_dict, "masks": ckpt.masks,
                             "config": ckpt.config, "metrics": ckpt.metrics}))


def int8_gzip_factor(sizes: list[dict]) -> float:
    """Dense fp32 bytes / INT8+gzip bytes: our measure of "pruned + INT8 ≈ 40× smaller"."""
    by_form = {row["form"]: row["bytes"] for row in sizes}
    return by_form["masks baked in, dense fp32"] / by_form["INT8 dynamic, gzip"]


# --- agreement and latency ---------------------------------------------------------------------
def check_inputs(ckpt: Checkpoint, rows: int = CHECK_ROWS, seed: int = 0):
    """(x, y, source): test rows of the checkpoint's own data set when it can be loaded
    here without a download, else standard-normal rows (the engine's data are
    standardized) and y=None."""
    try:
        data = data_for_checkpoint(ckpt.config, ckpt.arch, download=False)
    except DatasetError:
        generator = torch.Generator().manual_seed(seed)
        return (torch.randn(rows, ckpt.arch["in_features"], generator=generator), None,
                f"{rows} random standard-normal rows (the checkpoint's data set is not available)")
    return (torch.from_numpy(data.x_test[:rows]), torch.from_numpy(data.y_test[:rows]),
            f"{len(data.y_test[:rows])} test rows of {data.name}")


@torch.inference_mode()
def agreement_table(forms: Forms, x: torch.Tensor, y: torch.Tensor | None = None) -> list[dict]:
    """Each form against the masked dense model on the same rows (and their accuracy
    when labels are known)."""
    models = forms.models()
    reference = models["dense"](x)
    rows = []
    for name, model in models.items():
        logits = model(x)
        same = float((logits.argmax(1) == reference.argmax(1)).float().mean())
        diff = float((logits - reference).abs().max())
        exact = name != "INT8 dynamic"
        ok = (same == 1.0 and diff <= EXACT_ATOL) if exact else same >= INT8_MIN_AGREEMENT
        rows.append({"form": name, "same_predictions": same, "max_abs_logit_diff": diff,
                     "accuracy": float((logits.argmax(1) == y).float().mean()) if y is not None else None,
                     "rule": (f"identical predictions, logits within {EXACT_ATOL:g}" if exact else
                              f">= {INT8_MIN_AGREEMENT:.0%} identical predictions"),
                     "verified": ok})
    return rows


@torch.inference_mode()
def _best_seconds(model: nn.Module, x: torch.Tensor, budget_s: float) -> float:
    model(x)  # warm-up: packing, allocations
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or (spent < budget_s and runs < 10_000):
        start = time.perf_counter()
        model(x)
        took = time.perf_counter() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


def latency_table(forms: Forms, batches=LATENCY_BATCHES, budget_s: float = 0.3,
                  threads: int | None = LATENCY_THREADS, seed: int = 0) -> list[dict]:
    """Best wall time of one forward pass per form and batch size on the CPU. One thread
    by default: what one serving worker gets, and steady on a shared machine."""
    models = forms.models()
    in_features = forms.dense[0][0].shape[1]
    rows = []
    for batch in batches:
        x = torch.randn(batch, in_features, generator=torch.Generator().manual_seed(seed))
        with cpu_threads(threads):
            seconds = {name: _best_seconds(model, x, budget_s) for name, model in models.items()}
        rows += [{"form": name, "batch": batch, "threads": threads or torch.get_num_threads(), "ms": 1e3 * s, "samples_per_s": batch / s,
                  "speedup_vs_dense": seconds["dense"] / s} for name, s in seconds.items()]
    return rows


# --- 2:4 semi-structured (GPU only) ------------------------------------------------------------
def semi_structured_report(forms: Forms, batch: int = 1024) -> dict:
    """Time the model with 2:4 semi-structured weights (``to_sparse_semi_structured``)
    against the same 2:4 weights stored dense, fp16, on the GPU. The 2:4 pattern is
    imposed here, so this is a speed measurement, not the checkpoint's accuracy."""
    if not torch.cuda.is_available():
        return {"skipped": "needs a CUDA GPU (2:4 sparse tensor cores); none is available"}
    major, _ = torch.cuda.get_device_capability()
    if major < 8:
        return {"skipped": f"needs compute capability 8.0 or newer; this GPU has {major}.x"}
    eligible = [i for i, (w, _) in enumerate(forms.dense)
                if min(w.shape) >= SEMI_STRUCTURED_MIN_DIM and w.shape[0] % 64 == 0 and w.shape[1] % 64 == 0]
    if not eligible:
        return {"skipped": f"no layer is large enough (both sides >= {SEMI_STRUCTURED_MIN_DIM} "
                           "and multiples of 64) for 2:4 kernels"}
    from torch.sparse import to_sparse_semi_structured

    two_of_four = [n_of_m_mask(w.abs(), torch.ones_like(w, dtype=torch.bool), 2, 4) if i in eligible else None
                   for i, (w, _) in enumerate(forms.dense)]
    layers = [(w if keep is None else w * keep, b) for (w, b), keep in zip(forms.dense, two_of_four)]
    dense = as_sequential([(w.half().cuda(), b.half().cuda()) for w, b in layers])
    sparse = as_sequential([(w.half().cuda(), b.half().cuda()) for w, b in layers])
    try:
        for i in eligible:  # layer i is module 2i (a ReLU follows every hidden Linear)
            linear = sparse[2 * i]
            linear.weight = nn.Parameter(to_sparse_semi_structured(linear.weight.data), requires_grad=False)
        x = torch.randn(batch, forms.dense[0][0].shape[1], device="cuda", dtype=torch.float16)
        with torch.inference_mode():
            same = torch.allclose(sparse(x), dense(x), atol=1e-2, rtol=1e-2)
        dense_s, sparse_s = _cuda_seconds(dense, x), _cuda_seconds(sparse, x)
    except (RuntimeError, NotImplementedError) as exc:
        return {"skipped": f"2:4 kernels unavailable here: {str(exc).splitlines()[0]}"}
    speedup = dense_s / sparse_s
    return {"layers": [f"layer {i + 1}" for i in eligible], "batch": batch, "dense_ms": 1e3 * dense_s,
            "semi_structured_ms": 1e3 * sparse_s, "speedup": speedup, "same_outputs": same,
            "verdict": (f"{speedup:.2f}x faster" if speedup >= 1.05 else
                        f"no speedup at this size ({speedup:.2f}x)")}


@torch.inference_mode()
def _cuda_seconds(model: nn.Module, x: torch.Tensor, runs: int = 50) -> float:
    model(x)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(runs):
        model(x)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / runs
