"""Physical removal: CPU inference time of a neuron-pruned MLP (masks only) against the
same network rebuilt as a smaller dense one (engine.structured.shrink).

    python -m benchmarks.structured_speedup [--depth 8] [--width 1024] [--batch 4096]

Prints one row per pruned fraction of neurons: parameters, milliseconds per batch,
speedup, and the largest output difference between the two models."""
from __future__ import annotations

import argparse
import time

import torch

from engine.models import MLP
from engine.pruning import STRATEGIES, ScoreContext, apply_masks, full_masks, prunable_parameters
from engine.structured import parameter_count, shrink


def best_times(models: list, x, repeats: int) -> list[float]:
    """Each model's best time per batch, the models alternating call by call, so a busy
    moment on a shared machine slows them alike."""
    best = [float("inf")] * len(models)
    with torch.inference_mode():
        for model in models:
            model(x)  # warm-up
        for _ in range(repeats):
            for i, model in enumerate(models):
                start = time.perf_counter()
                model(x)
                best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, args.features)
    print(f"MLP depth {args.depth} width {args.width}, batch {args.batch}, {args.threads} CPU thread(s)")
    print(f"{'neurons cut':>12}{'params':>12}{'masked ms':>11}{'small params':>14}{'small ms':>10}"
          f"{'speedup':>9}{'max |diff|':>12}")
    for fraction in (0.0, 0.25, 0.5, 0.75, 0.9):
        torch.manual_seed(0)
        model = MLP(args.features, args.depth, args.width, 10).eval()
        params = prunable_parameters(model)
        masks = full_masks(params)
        if fraction:
            context = ScoreContext(model, torch.Generator().manual_seed(0))
            masks = STRATEGIES["neuron-layerwise"].prune_step(params, masks, fraction, context)
            apply_masks(model, masks)
        small = shrink(model)
        with torch.inference_mode():
            diff = float((small(x) - model(x)).abs().max())
        masked_s, small_s = best_times([model, small], x, args.repeats)
        print(f"{fraction:>12.0%}{parameter_count(model):>12,}{masked_s * 1e3:>11.2f}"
              f"{parameter_count(small):>14,}{small_s * 1e3:>10.2f}{masked_s / small_s:>9.2f}{diff:>12.2e}")


if __name__ == "__main__":
    main()
