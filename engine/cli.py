"""Command line: a stable contract the app and scripts rely on.

    python -m engine run ...       progress lines, then ONE JSON object as the last line
    python -m engine run --spec FILE   the same, settings from a run spec (flags override)
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

# Only what parsing the command line needs is imported here (the schema and the strategy
# registry, neither loads torch): `--help`, `strategies` and the list of presets start in a
# fraction of `import torch`, and each command imports what it uses when it runs
# (`inspect` never loads scikit-learn or pandas; a cached rerun never loads the training code).
from .config import ConfigError, RunConfig
from .errors import DatasetError, EngineError
from .limits import describe_os_error, run_limit
from .pruning import STRATEGIES
from .settings import AXES, BY_NAME, SETTINGS


class _Parser(argparse.ArgumentParser):
    """No abbreviations (``--schedule`` must never be read as ``--scheduler``), and a bad
    command line is one clear line, not a usage dump."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


# Which run settings each subcommand takes (engine/settings.py declares them all). A
# saved run's own settings define what sensitivity and lottery-control compute; they
# take only where and how to compute it.
SENSITIVITY_SETTINGS = ("data_path", "num_threads")
MACHINE_SETTINGS = tuple(s.name for s in SETTINGS if s.machine)


def add_setting_flags(parser: argparse.ArgumentParser, names=None, *, skip=(), sweep: bool = False) -> None:
    """A flag per run setting, from the schema: type, default and help come from there.
    ``sweep``: nothing has a default (a spec file's values stand unless the command line
    names them), and a setting that is a sweep axis takes a comma-separated list under its
    plural name (--strategies, --amounts, …)."""
    for setting in SETTINGS:
        if (names is not None and setting.name not in names) or setting.name in skip:
            continue
        default = argparse.SUPPRESS if sweep else setting.default
        if setting.type is dict:
            parser.add_argument("--option", dest="extra", action="append", metavar="KEY=VALUE",
                                default=argparse.SUPPRESS if sweep else [],
                                help="a strategy option, e.g. --option min_keep=8 (repeatable); "
                                     "python -m engine strategies lists each strategy's options")
        elif sweep and setting.axis:
            parser.add_argument(f"--{setting.axis}", dest=setting.axis, default=argparse.SUPPRESS,
                                help=f"comma-separated values of {setting.name}: {setting.help}; "
                                     f"each {setting.allowed()}")
        elif setting.type is bool:
            parser.add_argument(setting.flag, dest=setting.name, action="store_const",
                                const=not setting.default, default=default,
                                help=f"turn {'off' if setting.default else 'on'} {setting.help}")
        else:
            parser.add_argument(setting.flag, dest=setting.name, type=setting.type, default=default,
                                metavar=setting.name.upper(),
                                help=f"{setting.help}; {setting.allowed()} "
                                     f"(default: {setting.default if setting.default is not None else 'none'})")


def _parse_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--option {text!r} is invalid: write KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _given_settings(args) -> dict:
    """The run settings on the command line, as RunConfig values."""
    given = {name: value for name, value in vars(args).items() if name in BY_NAME}
    if "extra" in given:
        given["extra"] = dict(_parse_option(o) for o in given["extra"])
    return given


def _config(args, **changes) -> RunConfig:
    values = {**_given_settings(args), **changes}
    if values.get("strategy", RunConfig.strategy) not in STRATEGIES:
        _load_plugins()  # a strategy that is not built in may be a plug-in's
    return RunConfig(**values).validate()


def _load_plugins():
    """Plug-ins load where a command needs them (strategies, sweeps, a strategy that is not
    built in, a checkpoint's own strategy), so a command on built-in strategies never
    waits for them (nor for torch, which the shipped example imports)."""
    from .plugins import load_plugins

    return load_plugins()


def _print_progress(event: dict) -> None:
    prefix = f"[{event['strategy']}] " if "strategy" in event else ""
    if event["type"] == "epoch":
        print(f"{prefix}cycle {event['cycle']:>3} epoch {event['epoch']:>4}  "
              f"train_loss {event['train_loss']:.4f}  val_loss {event['val_loss']:.4f}  "
              f"val_acc {event['val_acc']:.4f}  sparsity {event['sparsity']:.4f}", flush=True)
    elif event["type"] == "waiting":
        print(f"{prefix}{event['message']}", file=sys.stderr, flush=True)
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
    ckpt = load_checkpoint(target, limit=run_limit())  # the CLI may use the machine, not a session's share
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


def _sensitivity(args) -> int:
    _load_plugins()  # the checkpoint's own strategy may be a plug-in's
    from .checkpoints import load_checkpoint
    from .sensitivity import GRID, checkpoint_sensitivity
    from .training import cpu_threads

    path, target, as_json = args.path, args.target, args.json
    if target is not None and not 0 < target < 1:
        raise ConfigError(f"--target={target!r} is invalid: must be a number in (0, 1)")
    overrides = _given_settings(args)
    for name, value in overrides.items():
        BY_NAME[name].check(value)
    ckpt = load_checkpoint(path, limit=run_limit())
    try:
        with cpu_threads(overrides.get("num_threads")):
            report = checkpoint_sensitivity(ckpt, target, data_path=overrides.get("data_path"))
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


def _strategies() -> int:
    plugins = _load_plugins()
    for s in STRATEGIES.values():
        options = ", ".join(f"{o.name}={o.default}" for o in s.options.values())
        print(f"{s.name:<20} {s.score}×{s.scope}×{s.granularity}  {s.description}"
              + (f"  [options: {options}]" if options else ""))
    for file, message in plugins.errors.items():
        print(f"warning: plug-in {file} not loaded: {message}", file=sys.stderr)
    return 0


def _spec_defaults(path: str) -> dict:
    """A run spec's settings as the run command's flag defaults (strategy options as the
    KEY=VALUE texts --option takes)."""
    from .run_spec import read_run_spec  # reads files as a sweep spec does (loads the sweep package)

    values = read_run_spec(path).to_dict()
    values["extra"] = [f"{key}={json.dumps(value)}" for key, value in values["extra"].items()]
    return values


def _run(args) -> int:
    config = _config(args)
    from .cache import cached_run

    result = cached_run(config, args.out, not args.no_cache, on_event=_print_progress)
    print(json.dumps(_result_json(result)))
    return 0


def _compare(args) -> int:
    _load_plugins()  # any of the strategies compared may be a plug-in's
    from .comparison import compare, default_name, load_comparison, parse_seeds
    from .conclusions import compare_conclusion
    from .controls import parse_controls

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    base = _config(args, strategy=strategies[0] if strategies else "")
    seeds = parse_seeds(args.seeds, base.seed)
    controls = parse_controls(args.controls)
    name = args.name or default_name(strategies, base, seeds, controls)
    report = compare(strategies, base, name, args.out, not args.no_cache, on_event=_print_progress,
                     seeds=seeds, controls=controls)
    saved = load_comparison(report["name"])
    print(json.dumps({"name": report["name"], "comparison_dir": report["comparison_dir"],
                      "seconds": report["seconds"], "seeds": seeds, "controls": controls,
                      "runs": [_result_json(r) for r in report["runs"]],
                      "control_runs": report["control_runs"],
                      "conclusion": compare_conclusion(saved["history"], saved["summary"])}))
    return 0


def _lottery_control(args) -> int:
    from .lottery import random_reinit_control

    _load_plugins()  # the run's own strategy may be a plug-in's
    print(json.dumps(random_reinit_control(args.run_dir, overrides=_given_settings(args))))
    return 0


def _control_names(argv: list[str] | None) -> str:
    """The controls' names, for compare's help: engine.controls loads torch, so they are
    looked up only when the compare command is the one parsed (the only time that help
    is shown)."""
    if "compare" not in (sys.argv[1:] if argv is None else argv):
        return "see `compare --help`"
    from .outcomes import CONTROLS

    return ", ".join(CONTROLS)


def build_parser(argv: list[str] | None = None, run_defaults: dict | None = None) -> argparse.ArgumentParser:
    """``run_defaults``: a run spec's settings, standing where the command line is silent."""
    parser = _Parser(prog="python -m engine", description="Pruning Explorer engine")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run_parser = commands.add_parser("run", help="one prune → fine-tune experiment")
    run_parser.add_argument("--spec", default=None, metavar="FILE",
                            help="a run spec (.json, .yaml or .toml; the Explorer's 'Run spec' "
                                 "download): its settings, overridden by any flag given as well")
    add_setting_flags(run_parser)
    if run_defaults:
        run_parser.set_defaults(**run_defaults)
    _add_output_flags(run_parser)
    compare_parser = commands.add_parser("compare", help="several strategies, same start")
    compare_parser.add_argument("--strategies", default="layerwise,global",
                                help="comma-separated strategies (two or more)")
    compare_parser.add_argument("--name", default=None, help="folder under checkpoints/_comparisons/")
    compare_parser.add_argument("--seeds", default=None,
                                help="comma-separated seeds, e.g. 0,1,2 (default: --seed alone)")
    compare_parser.add_argument("--controls", default="",
                                help="comma-separated controls: " + _control_names(argv))
    add_setting_flags(compare_parser, skip=("strategy",))
    _add_output_flags(compare_parser)
    inspect_parser = commands.add_parser("inspect", help="a checkpoint's config and layers")
    inspect_parser.add_argument("path")
    inspect_parser.add_argument("--json", action="store_true")
    commands.add_parser("strategies", help="list the registered strategies")
    sensitivity_parser = commands.add_parser("sensitivity", help="each layer of a checkpoint pruned alone")
    sensitivity_parser.add_argument("path")
    sensitivity_parser.add_argument("--target", type=float, default=None,
                                    help="also derive per-layer amounts for this overall fraction")
    sensitivity_parser.add_argument("--json", action="store_true")
    add_setting_flags(sensitivity_parser, SENSITIVITY_SETTINGS, sweep=True)
    lottery_parser = commands.add_parser("lottery-control", help="ticket vs. same mask on random weights")
    lottery_parser.add_argument("run_dir")
    add_setting_flags(lottery_parser, MACHINE_SETTINGS, sweep=True)
    _add_sweep_command(commands)
    presets_parser = commands.add_parser("presets", help="the app's presets and the claims they make")
    presets_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    presets_parser.add_argument("--check", metavar="NAME", default=None,
                                help="run the preset on --seeds and check each claim")
    presets_parser.add_argument("--record", metavar="NAME", default=None,
                                help="rerun seed 0 and write its tables to engine/recorded/ ('all': every preset)")
    presets_parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds to --check")
    _add_output_flags(presets_parser)
    # Run settings change the preset's for --check (e.g. --device cuda); only those given count.
    add_setting_flags(presets_parser, skip=("strategy",))
    for action in presets_parser._actions:
        if action.dest in BY_NAME:
            action.default = argparse.SUPPRESS
    return parser


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="checkpoint root (default: checkpoints/)")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if cached")


COMMANDS = {
    "run": _run,
    "compare": _compare,
    "inspect": lambda args: _inspect(args.path, args.json),
    "strategies": lambda args: _strategies(),
    "sensitivity": lambda args: _sensitivity(args),
    "lottery-control": _lottery_control,
    "sweep": lambda args: _sweep(args),
    "presets": lambda args: _presets(args),
}


def main(argv: list[str] | None = None) -> int:
    # Plug-ins load where they are needed (strategies; a config naming a strategy that is
    # not built in), so a command on built-in strategies never waits for them.
    args = build_parser(argv).parse_args(argv)
    try:
        if args.command == "run" and args.spec:
            args = build_parser(argv, _spec_defaults(args.spec)).parse_args(argv)
        return COMMANDS[args.command](args)
    except EngineError as exc:  # bad settings, files, data sets, clusters: one line each
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --out on a file or under /proc, a read-only or full disk
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        # RunFailed comes from the training code: if that was never imported, it was not raised.
        run_failed = getattr(sys.modules.get("engine.experiment"), "RunFailed", None)
        if run_failed is not None and isinstance(exc, run_failed):
            print(f"error: run {exc.result.get('status', 'failed')}: {exc}", file=sys.stderr)
            return 1
        print(f"error: {exc}", file=sys.stderr)  # e.g. --device cuda without a GPU
        return 2


# --- presets -------------------------------------------------------------------------------------
def _presets(args) -> int:
    from . import presets  # listing them loads neither torch nor the training code

    overrides = _given_settings(args)
    if args.record:
        if overrides:
            raise ConfigError(f"{next(iter(overrides))}={next(iter(overrides.values()))!r} cannot be given "
                              "with --record: a recording is the preset's own settings")
        names = list(presets.PRESETS) if args.record == "all" else [presets.get(args.record).name]
        from .training import cpu_threads

        with cpu_threads(1):  # the recorded results' setting: one thread, the same numbers anywhere
            for name in names:
                print(f"recorded {name}: {presets.record(presets.get(name), args.out)}", flush=True)
        return 0
    if args.check is None:
        for preset in presets.PRESETS.values():
            if args.json:
                print(json.dumps(preset.describe()))
                continue
            print(f"{preset.name:<10} {preset.title}  [{preset.page}: {', '.join(preset.strategies)}]")
            for claim in preset.claims:
                print(f"{'':<10} - {claim.text}  ({claim.measure} {claim.bound()})")
        return 0
    preset = presets.get(args.check)
    seeds = _parse_list("seeds", args.seeds)
    if not seeds:
        raise ConfigError(f"--seeds {args.seeds!r} is invalid: give at least one seed")

    def report(seed, rows):
        for row in rows:
            print(f"seed {seed}  {row['claim']:<22} {row['value']:>9.4f}  {row['bound']:<8} "
                  f"{'holds' if row['holds'] else 'FAILS'}", flush=True)

    from .training import cpu_threads

    with cpu_threads(overrides.get("num_threads") or 1):
        result = presets.check(preset, seeds, args.out, not args.no_cache, on_seed=report, overrides=overrides)
    print(json.dumps(result))
    return 0


# --- sweep ---------------------------------------------------------------------------------------
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
    add_setting_flags(sweep, sweep=True)


def _parse_list(plural: str, text: str) -> list:
    kind = BY_NAME[AXES[plural]].type
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise ConfigError(f"--{plural} {text!r} is invalid: give comma-separated "
                          f"{'integers' if kind is int else 'numbers'}") from None


def _sweep_spec(args):
    from .sweep import SweepSpec, read_spec_file

    given = vars(args)
    values = read_spec_file(args.spec) if given.get("spec") else {}
    for plural in AXES:
        if plural in given:
            values[plural] = _parse_list(plural, given[plural])
    settings = _given_settings(args)
    if "extra" in settings:
        settings["extra"] = {**values.get("extra", {}), **settings["extra"]}
    values.update(settings)
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

    _load_plugins()  # a grid may name plug-in strategies; they are checked before any run

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
