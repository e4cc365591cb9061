"""What a 90%-sparse model gains at inference: sizes of every exported form, CPU
latency at batch 1 and 1024, the check that every form gives the dense model's
predictions, and our measured factor for the claim "90% pruned + INT8 ≈ 40× smaller".

    python benchmarks/efficiency_report.py                 # trains (or reuses) a 90%-sparse model
    python benchmarks/efficiency_report.py --checkpoint checkpoints/<run>/final.pt"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import efficiency as eff  # noqa: E402
from engine.cache import cached_run  # noqa: E402
from engine.checkpoints import load_checkpoint  # noqa: E402
from engine.config import RunConfig  # noqa: E402

# amount 0.369 per cut, 5 cuts: 1 - 0.631^5 ≈ 0.90 of the prunable weights removed
NINETY_PERCENT = RunConfig(dataset="digits", depth=8, width=256, strategy="global", amount=0.369,
                           cycles=5, warmup_epochs=10, epochs_per_cycle=4, batch_size=128, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a .pt checkpoint (default: train one)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per form and batch")
    args = parser.parse_args()
    if args.checkpoint:
        ckpt = load_checkpoint(args.checkpoint)
    else:
        result = cached_run(NINETY_PERCENT)
        ckpt = load_checkpoint(Path(result["run_dir"]) / "final.pt")
    forms = eff.Forms.of(ckpt)
    counts = eff.parameter_counts(ckpt, forms)
    print(f"checkpoint {ckpt.path}  arch {ckpt.arch}")
    print(f"parameters: {counts['dense_params']:,} dense, {counts['nonzero_params']:,} nonzero "
          f"(sparsity {counts['sparsity']:.1%}); structured-shrunk keeps {counts['shrunk_params']:,} "
          f"(hidden widths {counts['shrunk_widths']})")
    sizes = eff.size_table(ckpt, forms)
    print(f"\n{'form':<40}{'bytes':>12}{'x smaller than dense fp32':>28}")
    for row in sizes:
        print(f"{row['form']:<40}{row['bytes']:>12,}{row['smaller_than_dense']:>27.1f}x")
    x, y, source = eff.check_inputs(ckpt)
    print(f"\nagreement with the masked dense model on {source}:")
    for row in eff.agreement_table(forms, x, y):
        acc = f"  accuracy {row['accuracy']:.4f}" if row["accuracy"] is not None else ""
        print(f"  {row['form']:<20} same predictions {row['same_predictions']:.4f}  max |Δlogit| "
              f"{row['max_abs_logit_diff']:.2e}{acc}  [{row['rule']}: "
              f"{'ok' if row['verified'] else 'FAILED'}]")
    print(f"\nCPU latency, best of repeated runs ({eff.LATENCY_THREADS} thread):")
    print(f"{'form':<20}{'batch':>6}{'ms':>10}{'samples/s':>14}{'vs dense':>10}")
    for row in eff.latency_table(forms, budget_s=args.budget):
        print(f"{row['form']:<20}{row['batch']:>6}{row['ms']:>10.3f}{row['samples_per_s']:>14,.0f}"
              f"{row['speedup_vs_dense']:>9.2f}x")
    semi = eff.semi_structured_report(forms)
    print(f"\nGPU 2:4 semi-structured: {semi.get('skipped') or semi['verdict']}")
    factor = eff.int8_gzip_factor(sizes)
    print(f"\n'90% pruned + INT8 ≈ 40x smaller': measured {factor:.1f}x (dense fp32 file vs INT8 + gzip) "
          f"at {counts['sparsity']:.1%} sparsity")


if __name__ == "__main__":
    main()
