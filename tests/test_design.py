"""Guards on the shape of the code base: the engine's modules import in floors, with no
cycle (imports inside functions count too), and prune_step composes parts without
asking which ones it has."""
import ast
import inspect
from pathlib import Path

from engine import pruning

ENGINE = Path(__file__).resolve().parents[1] / "engine"


def engine_imports() -> dict[str, set[str]]:
    """module -> the engine modules it imports, at any depth of the file. A subpackage
    (engine/sweep/) counts as one module: its parts may import each other."""
    graph: dict[str, set[str]] = {}
    for path in ENGINE.rglob("*.py"):
        top = path.relative_to(ENGINE).parts[0].removesuffix(".py")
        deps = graph.setdefault(top, set())
        inside = path.parent != ENGINE
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.level == 1 and inside:
                    continue  # a sibling in the same subpackage
                names = [node.module] if node.module else [a.name for a in node.names]
                deps.update(n.split(".")[0] for n in names if n.split(".")[0] in MODULES)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine."):
                deps.add(node.module.split(".")[1])
        deps.discard(top)
    return graph


MODULES = {p.stem for p in ENGINE.glob("*.py")} | {p.name for p in ENGINE.iterdir() if (p / "__init__.py").exists()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_the_engine():
    graph = engine_imports()
    assert {"errors", "settings", "config", "pruning", "sensitivity", "sweep"} <= set(graph)
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))
    assert graph["errors"] == set() and graph["settings"] <= {"errors", "schedules"}


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_prune_step_composes_parts_without_asking_which():
    source = inspect.getsource(pruning.Strategy.prune_step)
    body = source.split('"""')[-1]
    assert " if " not in body and "scope ==" not in body and "method" not in body
    for part in ("layer", "global", "sensitivity"):
        assert part in pruning.SCOPES
    for part in ("unstructured", "neuron", "n:m", "torch-method"):
        assert part in pruning.GRANULARITIES


def test_only_entry_points_load_plug_ins():
    loaders = {path.stem for path in ENGINE.glob("*.py") if "load_plugins(" in path.read_text()}
    # sweep: its worker processes; live: the app's background jobs and warm-up (an entry point)
    assert loaders <= {"plugins", "cli", "sweep", "tutorial", "live"}, loaders
