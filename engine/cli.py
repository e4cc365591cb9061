"""Command line: a stable contract the app and scripts rely on.

    python -m engine run ...       progress lines, then ONE JSON object as the last line
    python -m engine compare ...   the same, one entry per strategy
    python -m engine inspect PATH  a checkpoint's config and per-layer table
    python -m engine strategies    the registered strategies, plug-ins included
    python -m engine sensitivity PATH   each layer of a checkpoint pruned alone
    python -m engine lottery-control RUN_DIR   a lottery ticket vs. its mask on random weights
    python -m engine sweep SPEC    a grid of runs; a line per finished cell, then ONE JSON object

Bad settings and bad files exit non-zero with one line naming the problem."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Only what parsing the command line needs is imported here: `--help` and `strategies`
# start in a fraction of `import torch`, and each command imports what it uses when it
# runs (`inspect` never loads scikit-learn or pandas; a cached rerun never trains).
from .config import ConfigError, RunConfig
from .schedules import SCHEDULES


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, not a usage dump
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    d = RunConfig()
    parser.add_argument("--dataset", default=d.dataset, help="digits | covertype | synthetic")
    parser.add_argument("--rows", type=int, default=None, help="row cap (synthetic: row count)")
    parser.add_argument("--data-path", default=None, help="local covtype.data.gz (UCI format)")
    parser.add_argument("--depth", type=int, default=d.depth)
    parser.add_argument("--width", type=int, default=d.width)
    parser.add_argument("--amount", type=float, default=d.amount,
                        help="fraction of the remaining weights cut per prune step, in (0, 1)")
    parser.add_argument("--cycles", type=int, default=d.cycles)
    parser.add_argument("--schedule", default=d.schedule, help=" | ".join(SCHEDULES))
    parser.add_argument("--target-sparsity", type=float, default=None,
                        help="final sparsity for the one-shot and gradual schedules, in (0, 1)")
    parser.add_argument("--rewind-epoch", type=int, default=None,
                        help="lottery ticket: rewind survivors to this warm-up epoch after each cut (0 = init)")
    parser.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs)
    parser.add_argument("--epochs-per-cycle", type=int, default=d.epochs_per_cycle)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--finetune-lr-factor", type=float, default=d.finetune_lr_factor)
    parser.add_argument("--optimizer", default=d.optimizer, help="adam | adamw | sgd")
    parser.add_argument("--no-prune-output", dest="prune_output", action="store_false",
                        help="leave the output layer unpruned")
    parser.add_argument("--prune-biases", action="store_true")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="auto | cpu | cuda")
    parser.add_argument("--precision", default=d.precision, help="auto | fp32 | bf16 (autocast)")
    parser.add_argument("--no-fused-optimizer", dest="fused_optimizer", action="store_false",
                        help="foreach optimizer kernels instead of fused ones")
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="CUDA: run every training step eagerly")
    parser.add_argument("--no-tf32", dest="tf32", action="store_false",
                        help="CUDA: full fp32 matmuls instead of TF32")
    parser.add_argument("--num-threads", type=int, default=None, help="CPU threads for training")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="strategy-specific option (repeatable)")
    parser.add_argument("--out", default=None, help="checkpoint root (default: checkpoints/)")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if cached")


def _parse_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--option {text!r} is invalid: write KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _config(args, strategy: str) -> RunConfig:
    return RunConfig(
        dataset=args.dataset, rows=args.rows, data_path=args.data_path, depth=args.depth,
        width=args.width, strategy=strategy, amount=args.amount, cycles=args.cycles,
        warmup_epochs=args.warmup_epochs, epochs_per_cycle=args.epochs_per_cycle,
        batch_size=args.batch_size, lr=args.lr, finetune_lr_factor=args.finetune_lr_factor,
        optimizer=args.optimizer, prune_output=args.prune_output, prune_biases=args.prune_biases,
        seed=args.seed, device=args.device, extra=dict(_parse_option(o) for o in args.option),
        schedule=args.schedule, target_sparsity=args.target_sparsity, rewind_epoch=args.rewind_epoch,
        precision=args.precision,
        fused_optimizer=args.fused_optimizer,
        cuda_graphs=args.cuda_graphs, tf32=args.tf32, num_threads=args.num_threads,
    ).validate()


def _print_progress(event: dict) -> None:
    prefix = f"[{event['strategy']}] " if "strategy" in event else ""
    if event["type"] == "epoch":
        print(f"{prefix}cycle {event['cycle']:>3} epoch {event['epoch']:>4}  "
              f"train_loss {event['train_loss']:.4f}  val_loss {event['val_loss']:.4f}  "
              f"val_acc {event['val_acc']:.4f}  sparsity {event['sparsity']:.4f}", flush=True)
    elif event["type"] == "prune":
        pre, post = event["pre_prune"], event["post_prune"]
        print(f"{prefix}cycle {event['cycle']:>3} prune: val_acc {pre['val_acc']:.4f} -> "
              f"{post['val_acc']:.4f}  sparsity {event['sparsity']:.4f}", flush=True)


def _result_json(result: dict) -> dict:
    keys = ["run_id", "run_dir", "status", "final_sparsity", "final_val_acc", "best_val_acc",
            "test_acc", "best_test_acc", "nonzero_params", "total_params", "epochs", "cached",
            "seconds", "train_seconds", "collapse_cycle", "strategy"]
    return {k: result[k] for k in keys if k in result}


def _inspect(path: str, as_json: bool) -> int:
    from .checkpoints import load_checkpoint

    target = Path(path)
    if target.is_dir():
        target = target / "best.pt"
    ckpt = load_checkpoint(target)
    layers = ckpt.layer_table()
    total = sum(r["weights"] for r in layers)
    nonzero = sum(r["nonzero"] for r in layers)
    report = {"path": str(target), "label": ckpt.label, "arch": ckpt.arch, "config": ckpt.config,
              "metrics": ckpt.metrics, "layers": layers,
              "weights": total, "nonzero": nonzero, "sparsity": 1 - nonzero / total}
    if as_json:
        print(json.dumps(report, default=str))
        return 0
    print(f"checkpoint {target}  label={ckpt.label or '-'}  arch={ckpt.arch}")
    for key, value in sorted(ckpt.config.items()):
        print(f"  {key} = {value}")
    print(f"{'layer':<8}{'shape':>14}{'weights':>12}{'nonzero':>12}{'sparsity':>10}")
    for r in layers:
        print(f"{r['layer']:<8}{'x'.join(map(str, r['shape'])):>14}{r['weights']:>12}"
              f"{r['nonzero']:>12}{r['sparsity']:>10.2%}")
    print(f"{'total':<8}{'':>14}{total:>12}{nonzero:>12}{1 - nonzero / total:>10.2%}")
    return 0


def _sensitivity(path: str, target: float | None, as_json: bool) -> int:
    from .checkpoints import load_checkpoint
    from .data import DatasetError
    from .sensitivity import GRID, checkpoint_sensitivity

    ckpt = load_checkpoint(path)
    try:
        report = checkpoint_sensitivity(ckpt, target)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    table, amounts = report["table"], report["amounts"]
    if as_json:
        print(json.dumps({"path": path, "table": table, "amounts": amounts}))
        return 0
    print(f"validation accuracy with one layer pruned alone (L1; unpruned {table[0]['base_acc']:.4f})")
    print(f"{'layer':<12}" + "".join(f"{a:>7.0%}" for a in GRID))
    for name in dict.fromkeys(r["layer"] for r in table):
        accs = [r["val_acc"] for r in table if r["layer"] == name]
        print(f"{name:<12}" + "".join(f"{acc:>7.3f}" for acc in accs))
    if amounts:
        print(f"per-layer amounts for {target:.0%} of the remaining weights overall:")
        for name, amount in amounts.items():
            print(f"  {name:<12}{amount:>7.1%}")
    return 0


def _control_names(argv: list[str] | None) -> str:
    """The controls' names, for compare's help: engine.controls loads torch, so they are
    looked up only when the compare command is the one parsed (the only time that help
    is shown)."""
    if "compare" not in (sys.argv[1:] if argv is None else argv):
        return "see `compare --help`"
    from .controls import CONTROLS

    return ", ".join(CONTROLS)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m engine", description="Pruning Explorer engine")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    from .pruning import STRATEGIES  # the registry only: torch loads when a strategy runs

    run_parser = commands.add_parser("run", help="one prune → fine-tune experiment")
    run_parser.add_argument("--strategy", default=RunConfig().strategy,
                            help="one of: " + ", ".join(STRATEGIES))
    _add_run_options(run_parser)
    compare_parser = commands.add_parser("compare", help="several strategies, same start")
    compare_parser.add_argument("--strategies", default="layerwise,global")
    compare_parser.add_argument("--name", default=None)
    compare_parser.add_argument("--seeds", default=None,
                                help="comma-separated seeds, e.g. 0,1,2 (default: --seed alone)")
    compare_parser.add_argument("--controls", default="", help="comma-separated controls: " + _control_names(argv))
    _add_run_options(compare_parser)
    inspect_parser = commands.add_parser("inspect", help="a checkpoint's config and layers")
    inspect_parser.add_argument("path")
    inspect_parser.add_argument("--json", action="store_true")
    commands.add_parser("strategies", help="list the registered strategies")
    sensitivity_parser = commands.add_parser("sensitivity", help="each layer of a checkpoint pruned alone")
    sensitivity_parser.add_argument("path")
    sensitivity_parser.add_argument("--target", type=float, default=None,
                                    help="also derive per-layer amounts for this overall fraction")
    sensitivity_parser.add_argument("--json", action="store_true")
    lottery_parser = commands.add_parser("lottery-control", help="ticket vs. same mask on random weights")
    lottery_parser.add_argument("run_dir")
    _add_sweep_command(commands)
    args = parser.parse_args(argv)

    try:
        if args.command == "strategies":
            from .plugins import load_plugins

            plugins = load_plugins()
            for s in STRATEGIES.values():
                options = ", ".join(f"{k}={v[3]}" for k, v in s.options.items())
                print(f"{s.name:<20} {s.score}×{s.scope}×{s.granularity}  {s.description}"
                      + (f"  [options: {options}]" if options else ""))
            for file, message in plugins.errors.items():
                print(f"warning: plug-in {file} not loaded: {message}", file=sys.stderr)
            return 0
        if args.command == "sensitivity":
            if args.target is not None and not 0 < args.target < 1:
                raise ConfigError(f"--target={args.target!r} is invalid: must be a number in (0, 1)")
            return _sensitivity(args.path, args.target, args.json)
        if args.command == "lottery-control":
            from .lottery import random_reinit_control

            print(json.dumps(random_reinit_control(args.run_dir)))
            return 0
        if args.command == "inspect":
            return _inspect(args.path, args.json)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "run":
            config = _config(args, args.strategy)
            from .cache import cached_run

            result = cached_run(config, args.out, not args.no_cache, on_event=_print_progress)
            print(json.dumps(_result_json(result)))
            return 0
        from .comparison import compare, conclusion, default_name, load_comparison, parse_seeds
        from .controls import parse_controls

        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
        base = _config(args, strategies[0] if strategies else "")
        seeds = parse_seeds(args.seeds, base.seed)
        controls = parse_controls(args.controls)
        name = args.name or default_name(strategies, base, seeds, controls)
        report = compare(strategies, base, name, args.out, not args.no_cache, on_event=_print_progress,
                         seeds=seeds, controls=controls)
        summary = load_comparison(report["name"])["summary"]
        print(json.dumps({"name": report["name"], "comparison_dir": report["comparison_dir"],
                          "seconds": report["seconds"], "seeds": seeds, "controls": controls,
                          "runs": [_result_json(r) for r in report["runs"]],
                          "control_runs": report["control_runs"],
                          "conclusion": conclusion(summary)}))
        return 0
    except Exception as exc:
        code = _failure(exc)
        if code is None:
            raise
        return code


def _loaded(module: str, name: str) -> type | None:
    """An engine error type if its module was imported: an exception of a type from a
    module never loaded cannot have been raised, so checking needs no import."""
    return getattr(sys.modules.get(f"engine.{module}"), name, None)


def _failure(exc: Exception) -> int | None:
    """The exit status for an error that is the user's to fix, after one line saying
    what it is; None for a bug (raised with its traceback)."""
    bad_input = tuple(t for t in (ConfigError, _loaded("data", "DatasetError"),
                                  _loaded("checkpoints", "CheckpointError")) if t)
    run_failed = _loaded("experiment", "RunFailed")
    if run_failed and isinstance(exc, run_failed):
        print(f"error: run {exc.result.get('status', 'failed')}: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, bad_input) or isinstance(exc, RuntimeError):  # RuntimeError: e.g. --device cuda without a GPU
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return None


# --- sweep ---------------------------------------------------------------------------------------
SWEEP_LIST_TYPES = {"strategies": str, "amounts": float, "depths": int, "widths": int, "seeds": int}


def _add_sweep_command(commands) -> None:
    """Every grid and run option defaults to 'not given', so a spec file's values stand
    unless the command line names them."""
    sweep = commands.add_parser("sweep", help="a grid of runs, in parallel (loky) or on a Dask cluster",
                                argument_default=argparse.SUPPRESS)
    sweep.add_argument("spec", nargs="?", help="a .yaml, .toml or .json grid (optional with the lists below)")
    sweep.add_argument("--name", help="folder under checkpoints/_sweeps/ (default: the spec's name)")
    sweep.add_argument("--backend", default="loky", help="loky (this machine) | dask (a cluster)")
    sweep.add_argument("--jobs", type=int, default=None, help="loky worker processes (default: cores)")
    sweep.add_argument("--scheduler", default=None, help="Dask scheduler address, tcp://HOST:PORT")
    sweep.add_argument("--shared-dir", default=None,
                       help="a directory every worker mounts at the same path; runs and cache go there")
    sweep.add_argument("--torch-threads", type=int, default=1, help="torch threads per cell")
    sweep.add_argument("--no-cache", action="store_true", default=False, help="recompute every cell")
    for plural in SWEEP_LIST_TYPES:  # the sweep's axes (engine.sweep.AXES), by their plural names
        sweep.add_argument(f"--{plural}", help=f"comma-separated list, e.g. --{plural} "
                           + {"strategies": "layerwise,global", "amounts": "0.2,0.5", "depths": "2,4",
                              "widths": "32", "seeds": "0,1"}[plural])
    for name in ("dataset", "data_path", "optimizer", "device"):
        sweep.add_argument(f"--{name.replace('_', '-')}")
    for name in ("rows", "cycles", "warmup_epochs", "epochs_per_cycle", "batch_size"):
        sweep.add_argument(f"--{name.replace('_', '-')}", type=int)
    for name in ("lr", "finetune_lr_factor"):
        sweep.add_argument(f"--{name.replace('_', '-')}", type=float)
    sweep.add_argument("--no-prune-output", dest="prune_output", action="store_const", const=False)
    sweep.add_argument("--prune-biases", action="store_const", const=True)
    sweep.add_argument("--option", action="append", metavar="KEY=VALUE",
                       help="strategy-specific option for every cell (repeatable)")


def _parse_list(plural: str, text: str) -> list:
    kind = SWEEP_LIST_TYPES[plural]
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise ConfigError(f"--{plural} {text!r} is invalid: give comma-separated "
                          f"{'integers' if kind is int else 'numbers'}") from None


def _sweep_spec(args):
    from .sweep import AXES, SweepSpec, read_spec_file

    given = vars(args)
    values = read_spec_file(args.spec) if given.get("spec") else {}
    for plural in AXES:
        if plural in given:
            values[plural] = _parse_list(plural, given[plural])
    known = set(RunConfig.__dataclass_fields__) - set(AXES.values())
    values.update({k: v for k, v in given.items() if k in known})
    if "option" in given:
        values["extra"] = {**values.get("extra", {}), **dict(_parse_option(o) for o in given["option"])}
    default_name = Path(args.spec).stem if given.get("spec") else None
    return SweepSpec.from_dict(values, name=given.get("name") or values.get("name") or default_name)


def _print_cell(row: dict, done: int, total: int) -> None:
    settings = f"{row['strategy']} a={row['amount']:g} d={row['depth']} w={row['width']} seed={row['seed']}"
    if row["status"] == "complete":
        outcome = (f"test_acc {row['test_acc']:.4f}  sparsity {row['final_sparsity']:.4f}  "
                   f"{row['seconds']:.1f}s{' (cached)' if row.get('cached') else ''}")
    else:
        outcome = row["error"]
    print(f"[{done}/{total}] {row['status']:<8} {settings}  {outcome}", flush=True)


def _sweep(args) -> int:
    from .sweep import run_sweep

    spec = _sweep_spec(args)
    try:
        report = run_sweep(spec, backend=args.backend, n_jobs=args.jobs, scheduler=args.scheduler,
                           shared_dir=args.shared_dir, torch_threads=args.torch_threads,
                           use_cache=not args.no_cache, on_cell=_print_cell)
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. the Dask scheduler went away mid-sweep
        print(f"error: {type(exc).__name__}: {exc}; finished cells are saved, run again to resume",
              file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0 if report["complete"] == report["cells"] else 1
