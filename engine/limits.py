"""How much memory the work a setting or a file asks for may take, checked before any of
it is allocated. Everything here is arithmetic on declared sizes: a hostile checkpoint or
an extreme setting is refused with the estimate and the limit, never half-built.

The limit is sized to the machine: 80% of its memory (or of the container's cgroup
limit, whichever is smaller). ``PRUNING_EXPLORER_MEMORY_LIMIT`` (bytes, or e.g. ``4G``)
sets it explicitly. The app serves a class: each of its runs and inspections gets
``1 / CLASS_SIZE`` of the limit, so thirty students' work fits together."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import CheckpointError, ConfigError, FileFormatError

CLASS_SIZE = 30                 # concurrent sessions the app's per-session budget allows for
MACHINE_FRACTION = 0.8          # of the machine's memory that runs may use in total
# Measured peak bytes (python -m engine run, see docs/security.md): a parameter costs its
# weight, gradient, two Adam moments, mask, best/rewind snapshots and the checkpoint
# buffers; a data value its raw, split and scaled copies.
BYTES_PER_PARAM_TRAINED = 64
BYTES_PER_VALUE = 24
COVTYPE_FILE_ROWS, COVTYPE_FEATURES = 581_012, 54
COVTYPE_FILE_BYTES_PER_ROW = 55 * 8 * 2   # the whole file is parsed as int64 before any cap
DIGITS_ROWS, DIGITS_FEATURES = 1_797, 64
SYNTHETIC_DEFAULT_ROWS, SYNTHETIC_FEATURES = 20_000, 54
# Inspecting a checkpoint holds the uploaded bytes, its state_dict and masks and the models
# built from them: measured 16 bytes per parameter beyond the upload for the layer table,
# histograms, every mask image and the sizes on disk (a 4.3-million-parameter model); the
# budget allows twice that, for the confusion matrix and the sensitivity table.
BYTES_PER_PARAM_INSPECTED = 32
GIB = 1024**3


def _parse_bytes(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    value = int(float(number) * factor)
    if value <= 0:
        raise ValueError(text)
    return value


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def machine_limit() -> int:
    """Bytes that the work of this server or command may take in total."""
    override = os.environ.get("PRUNING_EXPLORER_MEMORY_LIMIT")
    if override:
        try:
            return _parse_bytes(override)
        except ValueError:
            raise ConfigError(f"PRUNING_EXPLORER_MEMORY_LIMIT={override!r} is invalid: give bytes, "
                              "e.g. 8G or 512M") from None
    import psutil

    total = psutil.virtual_memory().total
    cgroup = _cgroup_limit()
    return int(MACHINE_FRACTION * min(total, cgroup or total))


def run_limit() -> int:
    """What one run started now may take: the machine limit, or less when other work has
    already taken the memory (a run that would push the machine into swap is refused)."""
    if os.environ.get("PRUNING_EXPLORER_MEMORY_LIMIT"):
        return machine_limit()
    import psutil

    return min(machine_limit(), psutil.virtual_memory().available)


def session_limit() -> int:
    """What one app session's run or inspection may take: the machine shared by a class."""
    return machine_limit() // CLASS_SIZE


def human(n: float) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


# --- parameters --------------------------------------------------------------------------------
def parameter_count(in_features: int, depth: int, width: int, n_classes: int) -> int:
    """Weights and biases of the MLP (plain integer arithmetic: never allocates)."""
    sizes = [in_features] + [width] * depth + [n_classes]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def checkpoint_param_budget(limit: int | None = None) -> int:
    """The most parameters a checkpoint may declare: inspecting one takes about
    BYTES_PER_PARAM_INSPECTED per parameter, within one session's share of the machine."""
    return (limit if limit is not None else session_limit()) // BYTES_PER_PARAM_INSPECTED


def check_checkpoint_size(params: int, name: str, limit: int | None = None) -> None:
    """Refuse a checkpoint whose arch needs more than ``limit`` bytes to inspect (default:
    one app session's share; the CLI passes what it may use itself)."""
    budget = checkpoint_param_budget(limit)
    if params > budget:
        share = (f"a 1/{CLASS_SIZE} share of {human(machine_limit())}" if limit is None
                 else "what this command may use now")
        raise CheckpointError(
            f"{name}: its architecture has {params:,} parameters; this server inspects at most "
            f"{budget:,} (about {human(budget * BYTES_PER_PARAM_INSPECTED)}, {share}); refused "
            "before loading the model")


# --- runs --------------------------------------------------------------------------------------
def data_shape(config) -> tuple[int, int, int]:
    """(rows held, features, rows parsed from a file) a run's data set will have."""
    if config.dataset == "digits":
        rows = min(config.rows or DIGITS_ROWS, DIGITS_ROWS)
        return rows, DIGITS_FEATURES, 0
    if config.dataset == "covertype":
        return min(config.rows or COVTYPE_FILE_ROWS, COVTYPE_FILE_ROWS), COVTYPE_FEATURES, COVTYPE_FILE_ROWS
    return config.rows or SYNTHETIC_DEFAULT_ROWS, SYNTHETIC_FEATURES, 0


def estimate_run_bytes(config) -> dict:
    """Peak memory of a run from its settings alone: {data, model, total} in bytes."""
    rows, features, file_rows = data_shape(config)
    classes = 10 if config.dataset == "digits" else 7
    params = parameter_count(features, config.depth, config.width, classes)
    data = rows * features * BYTES_PER_VALUE + file_rows * COVTYPE_FILE_BYTES_PER_ROW
    activations = 4 * 4 * min(config.batch_size, rows) * config.width * (config.depth + 1)
    model = params * BYTES_PER_PARAM_TRAINED + activations
    return {"data": data, "model": model, "params": params, "total": data + model}


def check_run_memory(config, limit: int | None = None, who: str = "this machine") -> dict:
    """Raise ConfigError (with the estimate and the limit) when a run cannot fit."""
    limit = run_limit() if limit is None else limit
    estimate = estimate_run_bytes(config)
    if estimate["total"] > limit:
        raise ConfigError(
            f"this run needs about {human(estimate['total'])} (model {estimate['params']:,} parameters "
            f"≈ {human(estimate['model'])}, data ≈ {human(estimate['data'])}); {who} allows "
            f"{human(limit)} per run now: use fewer rows, layers or units")
    return estimate


# --- storage -----------------------------------------------------------------------------------
def describe_os_error(exc: OSError) -> str:
    """One line for a failed read or write: which path, what the system said, what to do."""
    import errno

    where = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or type(exc).__name__
    advice = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
              errno.EROFS: "choose a writable folder (--out, PRUNING_EXPLORER_CHECKPOINTS/_CACHE)",
              errno.EACCES: "choose a folder you may write to (--out, PRUNING_EXPLORER_CHECKPOINTS/_CACHE)",
              errno.EPERM: "choose a folder you may write to (--out, PRUNING_EXPLORER_CHECKPOINTS/_CACHE)",
              errno.ENOTDIR: "a file stands where a folder is needed; choose another --out",
              errno.EEXIST: "a file stands where a folder is needed; choose another --out"}.get(
        exc.errno, "check the folder named (--out, PRUNING_EXPLORER_CHECKPOINTS/_CACHE)")
    return f"cannot use{where}: {reason}; {advice}. Finished runs and files are kept."


# --- sweep specs -------------------------------------------------------------------------------
MAX_SPEC_BYTES = 64 * 1024      # a spec is a page of settings
MAX_SPEC_VALUES = 20_000        # scalars, lists and mappings after YAML aliases are expanded


def read_spec_text(path: Path) -> str:
    """A spec file's text, refused (FileFormatError) unless it is a regular file of at most
    MAX_SPEC_BYTES: /dev/zero or a 2 GB file is never read."""
    import stat as stat_module

    try:
        info = path.stat()
    except FileNotFoundError:
        raise FileFormatError(f"spec={str(path)!r}: no such file") from None
    if not stat_module.S_ISREG(info.st_mode):
        raise FileFormatError(f"spec={str(path)!r}: not a regular file (a folder, device or pipe)")
    if info.st_size > MAX_SPEC_BYTES:
        raise FileFormatError(f"spec={str(path)!r} is {human(info.st_size)}; a sweep spec may be at most "
                          f"{human(MAX_SPEC_BYTES)}")
    with open(path, "rb") as handle:
        return handle.read(MAX_SPEC_BYTES + 1).decode(errors="replace")


def load_yaml_bounded(text: str, source: str):
    """``yaml.safe_load`` that first counts what the document expands to: YAML aliases
    let 600 bytes stand for billions of values ("billion laughs"), so the node graph is
    composed (cheap: an alias is one shared node), its expanded size counted with
    memoisation, and the document refused past MAX_SPEC_VALUES or when it refers to itself."""
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def expanded(item) -> int:  # iterative depth-first count, so deep nesting cannot overflow
        stack = [(item, False)]
        while stack:
            current, children_done = stack.pop()
            key = id(current)
            if key in sizes:
                continue
            if isinstance(current, yaml.ScalarNode):
                sizes[key] = 1
                continue
            children = ([v for pair in current.value for v in pair] if isinstance(current, yaml.MappingNode)
                        else list(current.value))
            if children_done:
                visiting.discard(key)
                sizes[key] = 1 + sum(sizes[id(c)] for c in children)
                if sizes[key] > MAX_SPEC_VALUES:
                    raise FileFormatError(f"{source} expands to more than {MAX_SPEC_VALUES:,} values "
                                      "(YAML aliases repeating lists); a sweep spec is refused past that")
                continue
            if key in visiting:
                raise FileFormatError(f"{source} refers to itself (a recursive YAML alias)")
            visiting.add(key)
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
        return sizes[id(item)]

    expanded(node)
    return yaml.safe_load(text)
