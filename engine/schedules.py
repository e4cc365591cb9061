"""How much to cut at each prune step.

    iterative  the same fraction ``amount`` of the remaining weights every cycle
               (after c cycles (1 - amount)^c of them remain)
    one-shot   straight to ``target_sparsity`` in cycle 1; the later cycles only fine-tune
    gradual    Zhu & Gupta (2017)'s cubic ramp to ``target_sparsity`` over all cycles:
               s_t = s_f + (s_i - s_f)(1 - (t - t0)/(nΔt))^3, here with s_i = 0, t0 = 0,
               Δt = one cycle and n = cycles, so cycle c reaches s_f (1 - (1 - c/n)^3):
               big cuts early while the network is redundant, small ones near the end.

A sparsity counts the strategy's groups: weights, or whole neurons for neuron strategies.
The engine cuts fractions of what remains, so each target becomes such a fraction."""
from __future__ import annotations

SCHEDULES = ("iterative", "one-shot", "gradual")


def cubic_sparsity(step: float, steps: float, final: float, initial: float = 0.0) -> float:
    """Zhu & Gupta's s_t after ``step`` of ``steps`` pruning steps (clamped to the window)."""
    progress = min(max(step / steps, 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


def target_sparsities(schedule: str, cycles: int, amount: float,
                      target_sparsity: float | None) -> list[float]:
    """The overall sparsity each cycle 1 … cycles should end at."""
    if schedule == "iterative":
        return [1.0 - (1.0 - amount) ** c for c in range(1, cycles + 1)]
    if schedule == "one-shot":
        return [target_sparsity] * cycles
    if schedule == "gradual":
        return [cubic_sparsity(c, cycles, target_sparsity) for c in range(1, cycles + 1)]
    raise ValueError(f"schedule={schedule!r} is invalid: must be one of {', '.join(SCHEDULES)}")


def step_amounts(schedule: str, cycles: int, amount: float,
                 target_sparsity: float | None) -> list[float]:
    """Per cycle, the fraction of the remaining groups to cut (0.0: no cut that cycle)."""
    if schedule == "iterative":  # kept literal: the same number the user typed, every cycle
        return [amount] * cycles
    amounts, before = [], 0.0
    for after in target_sparsities(schedule, cycles, amount, target_sparsity):
        amounts.append(0.0 if after <= before else 1.0 - (1.0 - after) / (1.0 - before))
        before = max(before, after)
    return amounts
