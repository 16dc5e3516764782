"""The package's import graph (every import statement in gatetheory/, at module level or inside a
function) has no cycle, so its modules stack in layers: cell grammar -> derivation -> code generation
-> numerics -> model -> sweeps, plots and the command line, with the sampled twin beside the derivation."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "gatetheory"


def _module_name(path):
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """{module: set of gatetheory modules it imports}; `from . import x` counts as importing the
    submodule x when there is one, else the package."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.add(sub if sub in modules else target)
        graph[name] = {m for m in edges if m in modules and m != name}
    return graph


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "gatetheory.complexity" in graph["gatetheory.model"]       # Model.complexity imports it on call
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# Layers, lowest first. A module imports only from its own layer or lower ones. Utilities import
# nothing of the engine, so any layer may use them (display.py renders results, plot.py draws them).
# Modules under derive/ and numerics/ take their package's layer; a new top-level module not listed
# here counts as top layer until it is placed.
LAYERS = [
    ("utilities", {"gatetheory", "errors", "functions", "version", "progress", "threads", "serialise", "display",
                   "plot", "styles"}),
    ("cell grammar", {"spec", "cell", "cellfile", "cells", "cells.builtin"}),
    ("derivation", {"derive"}),
    ("code generation and the sampled twin", {"codegen", "sample"}),
    ("numerics", {"numerics"}),
    ("model", {"model", "complexity", "dynamics", "lyapunov", "counting", "validate", "torch_twin"}),
    ("sweeps and the command line", {"phase", "cli"}),
]


def layer(module):
    """Index in LAYERS of a module (by its name without 'gatetheory.', or its package's)."""
    name = module.removeprefix("gatetheory.") if module != "gatetheory" else module
    for i, (_, names) in enumerate(LAYERS):
        if name in names or name.split(".")[0] in names and name.split(".")[0] in ("derive", "numerics"):
            return i
    return len(LAYERS) - 1


def test_modules_import_only_from_their_layer_or_below():
    upward = [f"{m} ({LAYERS[layer(m)][0]}) imports {d} ({LAYERS[layer(d)][0]})"
              for m, deps in import_graph().items() for d in deps if layer(d) > layer(m)]
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))
