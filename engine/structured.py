"""Physical removal: a neuron-pruned MLP rebuilt as a genuinely smaller dense network.

Masks only zero weights; the matrices keep their size and a dense matmul costs the same.
A hidden neuron that feeds nothing (all-zero outgoing column) or reads nothing (all-zero
incoming row: its constant output is folded into the next bias) can be deleted. What
remains is a plain stack of narrower ``nn.Linear`` layers computing the same function (up
to float rounding from shorter sums). The removal itself is ``efficiency.shrink``, the
same one the Efficiency page measures."""
from __future__ import annotations

from torch import nn

from .efficiency import as_sequential, shrink as shrink_layers
from .models import MLP


def shrink(model: MLP) -> nn.Sequential:
    """An ``nn.Sequential`` of Linear/ReLU layers without the removable neurons."""
    layers = [(layer.weight.detach(), layer.bias.detach()) for _, layer in model.layers()]
    return as_sequential(shrink_layers(layers)).to(model.out.weight.device)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_widths(model: nn.Sequential) -> list[int]:
    return [m.out_features for m in model if isinstance(m, nn.Linear)]
