"""Seconds per epoch and samples/s over depth x width, engine vs the study-style
reference loop, side by side in one process, on synthetic Covertype-shaped data.

    python benchmarks/scaling.py                       # 464,809 rows, full 3x3 grid
    python benchmarks/scaling.py --rows 20000 --depths 4,8 --widths 256,512   # a CPU-sized run

The reference runs at batch 256 (the original study) and at the engine's batch size
(the fair ratio). FLOPs per epoch ~ 6 x weights x rows; the last column is that rate
as a fraction of the measured matmul peak in the engine's precision. Issue 5's H100
target for depth 8 x width 512, batch 1024: <= 0.15 s/epoch, >= 20x the reference at
the same batch size."""
from __future__ import annotations

import argparse

import torch

from harness import (ReferenceLoop, add_machine_options, best_epoch_seconds, engine_loop, machine,
                     machine_from, matmul_peak,
                     pruned_model, synthetic_train_rows, weight_count)

from engine.config import RunConfig
from engine.training import fast_paths

COVERTYPE_TRAIN_ROWS = 464_809


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=COVERTYPE_TRAIN_ROWS, help="training rows")
    parser.add_argument("--depths", type=_ints, default=[4, 8, 12])
    parser.add_argument("--widths", type=_ints, default=[256, 512, 1024])
    parser.add_argument("--batch-size", type=int, default=1024, help="the engine's batch size")
    parser.add_argument("--reference-batch-size", type=int, default=256)
    parser.add_argument("--precision", default="auto", help="auto (bf16 on CUDA) | fp32 | bf16")
    parser.add_argument("--no-fused", dest="fused", action="store_false",
                        help="foreach optimizer kernels instead of the default fused ones")
    add_machine_options(parser, repeats=2, device="auto")
    args = parser.parse_args()
    device = machine_from(args)
    fast = fast_paths(RunConfig(precision=args.precision, fused_optimizer=args.fused).validate(), device)
    peak = matmul_peak(device, fast.autocast or torch.float32)
    x, y = synthetic_train_rows(args.rows)
    print(f"machine: {machine()}; device {device}")
    print(f"{args.rows:,} training rows x {x.shape[1]} features, {int(y.max()) + 1} classes; engine "
          f"{fast.describe()}, batch {args.batch_size}; measured "
          f"{fast.describe()['precision']} matmul peak {peak / 1e9:,.1f} GFLOP/s; best of {args.repeats}")
    ref_small, ref_same = f"ref b{args.reference_batch_size}", f"ref b{args.batch_size}"
    print(f"{'depth':>5}{'width':>6}{'weights':>11}{'engine s':>10}{'samples/s':>12}{'% peak':>8}"
          f"{ref_small + ' s':>12}{ref_same + ' s':>13}{'x ' + ref_small:>11}{'x ' + ref_same:>12}")
    for depth in args.depths:
        for width in args.widths:
            model, masks = pruned_model(x.shape[1], depth, width, int(y.max()) + 1)
            loops = {"engine": engine_loop(model, masks, x, y, args.batch_size, device, fast),
                     ref_small: ReferenceLoop(model, x, y, args.reference_batch_size, device),
                     ref_same: ReferenceLoop(model, x, y, args.batch_size, device)}
            s = best_epoch_seconds(loops, args.rows, args.repeats)
            rate = args.rows / s["engine"]
            fraction = rate * 6 * weight_count(model) / peak
            print(f"{depth:>5}{width:>6}{weight_count(model):>11,}{s['engine']:>10.3f}{rate:>12,.0f}"
                  f"{100 * fraction:>7.1f}%{s[ref_small]:>12.3f}{s[ref_same]:>13.3f}"
                  f"{s[ref_small] / s['engine']:>10.1f}x{s[ref_same] / s['engine']:>11.1f}x", flush=True)
            del loops


if __name__ == "__main__":
    main()
