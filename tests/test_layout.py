"""The house's floors: dqlabels/ is a root of foundations, six subpackages by layer, the Keras
module and the commands on top; every module imports only from its own package, the root, and
the packages below it; no import circle exists; no private name crosses a module; only
``learning`` imports Keras, TensorFlow or JAX; below the commands nothing prints or parses
options; and the rooms stay small (docs/layout.md)."""

import ast

from conftest import REPO

PACKAGE = REPO / "dqlabels"
# Bottom to top; packages on one layer do not import each other.
LAYERS = [
    {"": {"errors", "registry", "config", "_io", "_parallel", "_kernels", "text", "csv_text",
          "_arrow", "figures", "commandline", "minimize"}},
    {"readers": None},
    {"labels": None},
    {"audit": None, "data": None},
    {"learning": None},
    {"studies": None, "keras": None},  # keras: the Keras-facing API, from learning
    {"commands": None},  # one module per command; only cli/ imports it (docs/layout.md)
]
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
ML_LIBRARIES = ("keras", "tensorflow", "jax")


def _modules() -> dict[str, object]:
    """Dotted name under dqlabels ("labels.plan"; "audit" for a package's __init__) → path."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the package's facade: the public API, from the lower packages
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _package(module: str) -> str:
    return module.split(".")[0] if "." in module or module in RANK else ""


def _imports() -> dict[str, set[str]]:
    """Module → the dqlabels modules it imports (anywhere in the file)."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split(".")[0] == "dqlabels":
                base = node.module.removeprefix("dqlabels").lstrip(".")
                targets = [f"{base}.{a.name}".lstrip(".") for a in node.names
                           if f"{base}.{a.name}".lstrip(".") in modules] or [base]
            elif isinstance(node, ast.Import):
                targets = [a.name.removeprefix("dqlabels").lstrip(".") for a in node.names
                           if a.name.split(".")[0] == "dqlabels"]
            found |= {t for t in targets if t in modules}
        graph[module] = found - {module}
    return graph


def test_every_module_sits_in_a_layer_and_imports_only_downward():
    graph = _imports()
    assert {_package(m) for m in graph} <= set(RANK), "a new package needs a layer"
    assert {m for m in graph if _package(m) == ""} == LAYERS[0][""], \
        "a new root module is a foundation: list it (and in docs/layout.md)"
    wrong = [(m, d) for m, deps in graph.items() for d in deps
             if _package(d) != _package(m) and RANK[_package(d)] >= RANK[_package(m)]
             and _package(d) != ""]
    assert wrong == []


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
    modules = {name.rsplit(".", 1)[-1] for name in _modules()}
    crossing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("dqlabels"):
                crossing += [(path.stem, node.module, a.name) for a in node.names
                             if a.name.startswith("_") and a.name not in modules]
    assert crossing == []


def test_only_learning_imports_keras_tensorflow_or_jax():
    outside = []
    for module, path in _modules().items():
        if _package(module) == "learning":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            outside += [(module, n) for n in names if n.split(".")[0] in ML_LIBRARIES]
    assert outside == []


def test_below_the_commands_nothing_prints_or_parses_options():
    """``print`` (called, or passed as a default ``log``), click and argparse only in
    ``commands`` (the text a command says is returned to ``cli/``, which prints it)."""
    found = []
    for module, path in _modules().items():
        if _package(module) == "commands":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name) and node.id == "print":
                found.append((module, "print"))
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            found += [(module, n) for n in names if n.split(".")[0] in ("click", "argparse")]
    assert found == []
    assert "commands" in RANK and RANK["commands"] == len(LAYERS) - 1  # the top floor


def test_no_module_over_500_lines_and_no_function_over_80():
    """Rooms of a size a reader takes in: in dqlabels/ and cli/, no module longer than 500
    lines and no function (docstring included) longer than 80."""
    too_long = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(REPO / "cli").glob("*.py")]):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 500:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    too_long.append(f"{path.name}: {node.name} is {length} lines")
    assert too_long == []
