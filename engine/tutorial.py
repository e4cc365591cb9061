"""The PyTorch pruning tutorial (Paganini, "Pruning Tutorial"), step by step, on its
LeNet adapted to the bundled 8×8 digits images. Every function returns the real
``torch.nn.utils.prune`` objects (or plain descriptions of them) so the tutorial page
only lays them out.

Adaptation: an 8×8 image is too small for two 3×3 convolutions each followed by 2×2
pooling, so both convolutions are padded (keeping the size) and only the first is
pooled: 8×8 → conv1 → 8×8 → pool → 4×4 → conv2 → 4×4 → 16·4·4 = 256 features → fc1
(120) → fc2 (84) → fc3 (10 digits). As in the tutorial, fc1 is by far the largest layer."""
from __future__ import annotations

import math

import pandas as pd
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from .pruning import STRATEGIES

LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)  # 1 input channel, 6 output channels, 3×3
        self.conv2 = nn.Conv2d(6, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)        # 4×4 feature maps after one pooling
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def make_lenet(seed: int = 0) -> LeNet:
    """A LeNet with PyTorch's default initialisation drawn from a private generator: the
    same numbers as ``torch.manual_seed(seed)`` then construction, without touching the
    global RNG (the app's other sessions may be using it), as ``engine.models.MLP`` does."""
    model = LeNet()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.conv1, model.conv2, model.fc1, model.fc2, model.fc3):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            fan_in = layer.weight[0].numel()
            nn.init.uniform_(layer.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator)
    return model


def digit_images(count: int = 8) -> tuple[torch.Tensor, list[int]]:
    """The first ``count`` bundled digits as a (count, 1, 8, 8) batch scaled to [0, 1]."""
    digits = load_digits()
    images = torch.tensor(digits.images[:count] / 16.0, dtype=torch.float32).unsqueeze(1)
    return images, digits.target[:count].tolist()


# --- looking at a module ---------------------------------------------------------------------
def describe(module: nn.Module) -> dict:
    """What the tutorial prints: parameters, buffers and forward pre-hooks (names, shapes,
    kinds), and whether ``weight``/``bias`` are parameters or plain attributes."""
    return {
        "parameters": [{"name": n, "shape": list(p.shape)} for n, p in module.named_parameters(recurse=False)],
        "buffers": [{"name": n, "shape": list(b.shape)} for n, b in module.named_buffers(recurse=False)],
        "pre_hooks": [hook_description(h) for h in module._forward_pre_hooks.values()],
        "attributes": {name: ("parameter" if isinstance(getattr(module, name), nn.Parameter)
                              else "plain tensor, recomputed by the pre-hook")
                       for name in ("weight", "bias")},
    }


def hook_description(hook) -> str:
    if isinstance(hook, prune.PruningContainer):
        return f"PruningContainer({', '.join(type(m).__name__ for m in hook)}) on '{hook._tensor_name}'"
    return f"{type(hook).__name__} on '{getattr(hook, '_tensor_name', '?')}'"


def matrix_frame(tensor: torch.Tensor, name: str) -> pd.DataFrame:
    """A tensor as a long (row, column, value) table for a heat map: one row per output
    channel or neuron, everything else flattened into columns."""
    matrix = tensor.detach().reshape(tensor.shape[0], -1).float()
    rows, cols = torch.meshgrid(torch.arange(matrix.shape[0]), torch.arange(matrix.shape[1]), indexing="ij")
    return pd.DataFrame({"tensor": name, "row": rows.flatten().numpy(), "column": cols.flatten().numpy(),
                         "value": matrix.flatten().numpy()})


def reparametrization_frames(module: nn.Module, name: str = "weight") -> pd.DataFrame:
    """``<name>_orig``, ``<name>_mask`` and ``<name>`` (= orig × mask) side by side."""
    return pd.concat([matrix_frame(getattr(module, f"{name}_orig"), f"{name}_orig"),
                      matrix_frame(getattr(module, f"{name}_mask"), f"{name}_mask"),
                      matrix_frame(getattr(module, name), name)])


# --- the tutorial's steps --------------------------------------------------------------------
def random_unstructured(module: nn.Module, amount: float, seed: int) -> None:
    """``prune.random_unstructured`` draws from torch's global RNG; here it draws from a
    fork of it seeded with ``seed``, so the same seed shows the same cut on every rerun and
    the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        prune.random_unstructured(module, name="weight", amount=amount)


def pruned_channels(module: nn.Module) -> list[int]:
    """Output channels whose mask is entirely zero."""
    mask = module.weight_mask.reshape(module.weight_mask.shape[0], -1)
    return [int(i) for i in torch.nonzero(mask.sum(dim=1) == 0).flatten()]


def hook_recomputes_weight(model: LeNet, module: nn.Module) -> dict:
    """Zero one more mask entry in place and run a forward pass on real digits: the
    pre-hook rebuilds ``weight`` from ``weight_orig × weight_mask`` before the layer runs."""
    index = int(torch.nonzero(module.weight_mask.flatten()).flatten()[0])
    before = float(module.weight.detach().flatten()[index])
    with torch.no_grad():
        module.weight_mask.view(-1)[index] = 0
        still = float(module.weight.detach().flatten()[index])  # not updated yet
        model(digit_images(4)[0])
    return {"index": index, "before": before, "after_mask_edit": still,
            "after_forward": float(module.weight.detach().flatten()[index])}


def lenet_at_step(step: int, seed: int, random_amount: float, bias_count: int, structured_amount: float) -> LeNet:
    """The LeNet that step ``step`` (1–7) of the tutorial shows: its own operation and
    every earlier step's applied, in the tutorial's order (the page shows one step at a
    time, and steps 2–7 act on one model in turn): 2 random_unstructured on conv1's weight,
    4 l1_unstructured on its bias (a count), 5 ln_structured on its weight on top, 7
    prune.remove of the weight."""
    model = make_lenet(seed)
    if step >= 2:
        random_unstructured(model.conv1, random_amount, seed)
    if step >= 4:
        prune.l1_unstructured(model.conv1, name="bias", amount=bias_count)  # an int amount: a count
    if step >= 5:
        prune.ln_structured(model.conv1, name="weight", amount=structured_amount, n=2, dim=0)
    if step >= 7:
        prune.remove(model.conv1, "weight")
    return model


def prune_several(model: LeNet, conv_amount: float = 0.2, linear_amount: float = 0.4) -> LeNet:
    """L1-prune every convolution by ``conv_amount`` and every linear layer by ``linear_amount``."""
    for _, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            prune.l1_unstructured(module, name="weight", amount=conv_amount)
        elif isinstance(module, nn.Linear):
            prune.l1_unstructured(module, name="weight", amount=linear_amount)
    return model


def global_l1(model: LeNet, amount: float = 0.2) -> LeNet:
    """One L1 ranking over the weights of all five layers at once."""
    prune.global_unstructured([(getattr(model, name), "weight") for name in LAYERS],
                              pruning_method=prune.L1Unstructured, amount=amount)
    return model


def layer_sparsity_rows(model: LeNet) -> list[dict]:
    rows = [{"layer": name, "weights": getattr(model, name).weight.numel(),
             "zeros": int((getattr(model, name).weight == 0).sum())} for name in LAYERS]
    for row in rows:
        row["sparsity"] = row["zeros"] / row["weights"]
    total, zeros = sum(r["weights"] for r in rows), sum(r["zeros"] for r in rows)
    return rows + [{"layer": "global", "weights": total, "zeros": zeros, "sparsity": zeros / total}]


def plugin_methods() -> dict[str, type]:
    """Custom BasePruningMethod subclasses from the plug-in folder, by strategy name (the
    entry point, app.py or the CLI, has loaded them)."""
    return {name: s.method for name, s in STRATEGIES.items() if s.method is not None}


def apply_method(module: nn.Module, name: str, method: type, amount: float | None = None) -> None:
    """``method.apply(module, name)``: the same forward-pre-hook machinery as the built-ins."""
    if amount is None:
        method.apply(module, name)
    else:
        method.apply(module, name, amount=amount)
