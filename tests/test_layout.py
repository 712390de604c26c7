"""The house's floors: every module of dqlabels/ sits on one, imports only from its own floor or
below, no import circle exists, and no private name crosses a module (docs/layout.md)."""

import ast

from conftest import REPO

# Bottom to top. A module may import the modules of its own floor and of the floors below.
FLOORS = [
    ("foundations", {"errors", "config", "_parallel", "_quiet", "_kernels", "simulated_crowd",
                     "metrics", "text", "verdicts"}),
    ("files", {"_io", "tables", "csv_text"}),
    ("reading", {"importers", "table_exports", "campaign", "counting", "annotations"}),
    ("labels and scores", {"aggregation", "dawid_skene", "crowdtruth", "scores", "predictions",
                           "gold", "ranking", "plan", "next_round"}),
    ("audit and data", {"audit", "summary", "figures", "synthetic", "pixel_estimate"}),
    ("commands without TensorFlow", {"datasets", "html_report", "evaluate", "tsne",
                                     "distributed", "launch"}),
    ("learning", {"models", "tfdata", "inference", "run_folder", "callbacks", "keras",
                  "placement", "precise_bn"}),
    ("training", {"training", "predict"}),
    ("studies", {"study", "budget", "budget_results", "real_study"}),
]


def _imports() -> dict[str, set[str]]:
    """Module → the dqlabels modules it imports (anywhere in the file)."""
    graph = {}
    for path in sorted((REPO / "dqlabels").glob("*.py")):
        if path.stem == "__init__":
            continue
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split(".")[0] == "dqlabels":
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == "dqlabels":
                        found.add(parts[1] if len(parts) > 1 else "__init__")
        graph[path.stem] = found - {path.stem}
    return graph


def test_every_module_sits_on_a_floor_and_imports_only_downward():
    floor = {module: level for level, (_, modules) in enumerate(FLOORS) for module in modules}
    graph = _imports()
    assert set(graph) == set(floor), "place new modules on a floor (and in docs/layout.md)"
    upward = [(module, dependency) for module, dependencies in graph.items()
              for dependency in dependencies if floor[dependency] > floor[module]]
    assert upward == []


def test_no_import_circle():
    graph = _imports()
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import circle: {' -> '.join(path + [module])}"
        state[module] = "open"
        for dependency in sorted(graph[module]):
            visit(dependency, path + [module])
        state[module] = "done"

    for module in graph:
        visit(module, [])


def test_no_private_name_crosses_a_module():
    modules = {p.stem for p in (REPO / "dqlabels").glob("*.py")}
    crossing = []
    for path in sorted((REPO / "dqlabels").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("dqlabels"):
                crossing += [(path.stem, node.module, a.name) for a in node.names
                             if a.name.startswith("_") and a.name not in modules]
    assert crossing == []


def test_no_module_over_500_lines_and_no_function_over_80():
    """Rooms of a size a reader takes in: in dqlabels/ and cli/, no module longer than 500
    lines and no function (docstring included) longer than 80."""
    too_long = []
    for path in sorted([*(REPO / "dqlabels").glob("*.py"), *(REPO / "cli").glob("*.py")]):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 500:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    too_long.append(f"{path.name}: {node.name} is {length} lines")
    assert too_long == []
