"""The deep, deliberately over-parameterized MLP. Layers are named fc1 … fcN and out,
and those names are used everywhere: CSVs, charts, checkpoints."""
from __future__ import annotations

import math

import torch
from torch import nn


def layer_names(depth: int) -> list[str]:
    """fc1 … fc<depth>, then out: the names of an MLP's layers, in every form of it."""
    return [f"fc{i}" for i in range(1, depth + 1)] + ["out"]


class MLP(nn.Module):
    def __init__(self, in_features: int, depth: int, width: int, n_classes: int,
                 seed: int | None = None, widths: list[int] | None = None):
        """``widths`` (one per hidden layer) overrides ``width`` for a network whose layers
        differ, such as the small-dense control (engine/controls.py)."""
        super().__init__()
        self.arch = {"in_features": in_features, "depth": depth, "width": width,
                     "n_classes": n_classes}
        if widths is not None:
            if len(widths) != depth:
                raise ValueError(f"widths={widths!r} must give one width per hidden layer ({depth})")
            self.arch["widths"] = list(widths)
        self.layer_names = layer_names(depth)
        sizes = [in_features] + list(widths or [width] * depth) + [n_classes]
        for name, fan_in, fan_out in zip(self.layer_names, sizes[:-1], sizes[1:]):
            self.add_module(name, nn.Linear(fan_in, fan_out))
        if seed is not None:
            self.init_weights(seed)

    @torch.no_grad()
    def init_weights(self, seed: int) -> None:
        """nn.Linear's default initialisation drawn from a private generator: the same
        numbers as ``torch.manual_seed(seed)`` then construction, without touching the
        global RNG, which other threads (the app's other sessions) may be using."""
        generator = torch.Generator().manual_seed(seed)
        for _, layer in self.layers():
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def layers(self) -> list[tuple[str, nn.Linear]]:
        return [(name, getattr(self, name)) for name in self.layer_names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden, (_, out) = self.layers()
        for _, layer in hidden:
            x = torch.relu(layer(x))
        return out(x)


def parameter_shapes(arch: dict) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes an arch implies, without allocating anything (a hostile
    checkpoint may claim an enormous arch)."""
    names = layer_names(arch["depth"])
    sizes = [arch["in_features"]] + [arch["width"]] * arch["depth"] + [arch["n_classes"]]
    shapes = {}
    for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
        shapes[f"{name}.weight"] = (fan_out, fan_in)
        shapes[f"{name}.bias"] = (fan_out,)
    return shapes


def build_model(arch: dict) -> MLP:
    return MLP(arch["in_features"], arch["depth"], arch["width"], arch["n_classes"])


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' means CUDA when present. Asking for CUDA without one is a clear error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was requested but no CUDA GPU is available; "
                           "use device='auto' or 'cpu'")
    if requested == "cpu":
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
