"""One readable training loop. The whole data set lives on the device; each epoch
shuffles indices once and slices batches (no DataLoader for in-memory tensors). After
every optimizer step the masks are re-applied, so pruned weights stay exactly zero
whatever the optimizer's momentum says."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .pruning import Masks

EVAL_BATCH = 8192


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    params = list(params)
    # foreach: one fused kernel per step over all tensors instead of a Python loop.
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=True)
    raise ValueError(f"optimizer={name!r} is invalid: must be one of adam, adamw, sgd")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class Trainer:
    def __init__(self, model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                 batch_size: int, optimizer: torch.optim.Optimizer, seed: int):
        self.model, self.x, self.y = model, x_train, y_train
        self.batch_size, self.optimizer = batch_size, optimizer
        self.generator = torch.Generator(device=x_train.device)
        self.generator.manual_seed(seed)
        self._masked_params: list[torch.Tensor] = []
        self._masks: list[torch.Tensor] = []

    def set_masks(self, masks: Masks) -> None:
        named = dict(self.model.named_parameters())
        self._masked_params = [named[name] for name in masks]
        # Float masks: one multiply per tensor, batched into a single foreach call.
        self._masks = [mask.to(named[name].dtype) for name, mask in masks.items()]

    @torch.no_grad()
    def _reapply_masks(self) -> None:
        if self._masked_params:
            torch._foreach_mul_(self._masked_params, self._masks)

    def train_epoch(self) -> tuple[float, float]:
        """One pass over the shuffled train set: (mean loss, accuracy) over the epoch."""
        self.model.train()
        n = self.y.shape[0]
        order = torch.randperm(n, generator=self.generator, device=self.x.device)
        loss_sum = torch.zeros((), device=self.x.device)
        correct = torch.zeros((), dtype=torch.long, device=self.x.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            logits = self.model(xb)
            loss = F.cross_entropy(logits, yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self._reapply_masks()
            # Accumulate on the device: no host sync per batch.
            loss_sum += loss.detach() * yb.shape[0]
            correct += (logits.detach().argmax(1) == yb).sum()
        mean_loss = loss_sum.item() / n
        if not math.isfinite(mean_loss):
            raise TrainingDiverged(f"the training loss became {mean_loss}; lower the learning "
                                   "rate or the amount pruned per step")
        return mean_loss, correct.item() / n


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) of the model exactly as it is now."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, y.shape[0], EVAL_BATCH):
        logits = model(x[start:start + EVAL_BATCH])
        yb = y[start:start + EVAL_BATCH]
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / y.shape[0], correct / y.shape[0]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[s:s + EVAL_BATCH]).argmax(1) for s in range(0, x.shape[0], EVAL_BATCH)])
