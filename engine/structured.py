"""Physical removal: a neuron-pruned MLP rebuilt as a genuinely smaller dense network.

Masks only zero weights; the matrices keep their size and a dense matmul costs the same.
A hidden neuron whose outgoing column in the next layer is all zero contributes nothing
downstream, so it can be deleted: its row (and bias) in its own layer and its column in
the next. What remains is a plain stack of narrower ``nn.Linear`` layers computing the
same function (up to float rounding from shorter sums)."""
from __future__ import annotations

import torch
from torch import nn

from .models import MLP


def kept_neurons(model: MLP) -> dict[str, torch.Tensor]:
    """Per hidden layer, the indices of neurons whose outgoing weights are not all zero."""
    layers = model.layers()
    return {name: torch.nonzero(following.weight.detach().ne(0).any(dim=0)).flatten()
            for (name, _), (_, following) in zip(layers[:-1], layers[1:])}


@torch.no_grad()
def shrink(model: MLP) -> nn.Sequential:
    """An ``nn.Sequential`` of Linear/ReLU layers without the removable neurons."""
    kept = kept_neurons(model)
    modules: list[nn.Module] = []
    inputs = torch.arange(model.arch["in_features"])
    for name, layer in model.layers():
        rows = kept.get(name, torch.arange(layer.out_features))  # output layer: every class
        small = nn.Linear(len(inputs), len(rows)).to(layer.weight.device, layer.weight.dtype)
        small.weight.copy_(layer.weight[rows][:, inputs])
        small.bias.copy_(layer.bias[rows])
        modules.append(small)
        if name in kept:
            modules.append(nn.ReLU())
        inputs = rows
    return nn.Sequential(*modules).eval()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_widths(model: nn.Sequential) -> list[int]:
    return [m.out_features for m in model if isinstance(m, nn.Linear)]
