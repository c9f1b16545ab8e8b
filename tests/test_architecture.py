"""The package's structure: imports go one way, nothing grows too large.

Reads the source with `ast` (nothing is imported), so it checks every import
statement, at module level and inside functions alike.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rateconv"

# The pipeline, lowest first: a module may import from its own rank and the
# ranks before it, never above (no exception list).
RANKS = [
    ["rateconv._checks", "rateconv._logging", "rateconv._version"],
    ["rateconv.neurons"],
    ["rateconv.synapses"],
    ["rateconv.network"],
    ["rateconv.metrics"],
    ["rateconv.registry"],
    ["rateconv.layers"],
    ["rateconv.loading"],
    ["rateconv.converter"],
    ["rateconv.simulator"],
    ["rateconv.tuning"],
    ["rateconv.nir", "rateconv.energy", "rateconv.plots", "rateconv.benchmark"],
    ["rateconv.datasets", "rateconv.zoo"],
    ["rateconv.cli"],
    ["rateconv", "rateconv.__main__"],
]

# shared private infrastructure every folder may use
SHARED_PRIVATE = {"rateconv._checks", "rateconv._logging", "rateconv._version"}

MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 350
MAX_FUNCTION_LINES = 120


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _rank(module):
    best, best_len = None, -1
    for rank, prefixes in enumerate(RANKS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    return best


def _resolve(name, modules):
    """The package module ``name`` refers to (a submodule or its package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module, path, modules):
    """``[(imported module, line, names imported from it)]``."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from rateconv import x` may name a submodule
            targets = [(f"{node.module}.{a.name}", a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{module}:{node.lineno}: use absolute imports")
        for target, name in targets:
            if not target.startswith("rateconv"):
                continue
            resolved = _resolve(target, modules)
            if resolved and resolved != module:
                # the name as imported: a submodule, or an attribute of one
                imported = target if target == resolved else name
                found.append((resolved, node.lineno, imported))
    return found


def _folder(module):
    """The top-level folder (or module) of the package ``module`` is in."""
    return ".".join(module.split(".")[:2])


def test_every_module_has_a_rank():
    unranked = [m for m in _modules() if _rank(m) is None]
    assert not unranked, f"add these modules to RANKS: {unranked}"


def test_imports_go_downwards_only():
    modules = _modules()
    upward = []
    for module, path in modules.items():
        for imported, line, _ in _imports(module, path, modules):
            # a package's __init__ re-exporting its own submodules is fine
            if imported.startswith(module + ".") and path.name == "__init__.py":
                if _rank(imported) == _rank(module):
                    continue
            if _rank(imported) > _rank(module):
                upward.append(f"{module}:{line} imports {imported}")
    assert not upward, "imports against the order:\n" + "\n".join(upward)


def test_no_import_cycles():
    modules = _modules()
    graph = {m: {i for i, _, _ in _imports(m, p, modules)} for m, p in modules.items()}
    for module in graph:  # a package imports its own __init__ implicitly
        graph[module] = {i for i in graph[module] if not module.startswith(i + ".")}
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        if state.get(node) == "active":
            cycle = trail[trail.index(node) :] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        state[node] = "active"
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, trail + [node])
        state[node] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_no_private_name_crosses_a_folder():
    modules = _modules()
    crossing = []
    for module, path in modules.items():
        for imported, line, name in _imports(module, path, modules):
            if _folder(imported) == _folder(module) or imported in SHARED_PRIVATE:
                continue
            private_module = any(
                part.startswith("_") and part != "__init__"
                for part in imported.split(".")[1:]
            )
            private_name = name is not None and name.split(".")[-1].startswith("_")
            if private_module or private_name:
                crossing.append(f"{module}:{line} imports {name or imported}")
    assert not crossing, "private names across folders:\n" + "\n".join(crossing)


def test_every_folder_says_what_it_owns():
    """Each package has a docstring and declares its public names."""
    missing = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        tree = ast.parse(init.read_text())
        names = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        if not ast.get_docstring(tree):
            missing.append(f"{init.parent.name}: no docstring")
        if "__all__" not in names:
            missing.append(f"{init.parent.name}: no __all__")
    assert not missing, "\n".join(missing)


def _code_lines(function):
    """Lines of a function without its docstring (documentation is no smell)."""
    body = function.body
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return function.end_lineno - body[1].lineno + 1
    return function.end_lineno - function.lineno + 1


def test_sizes():
    too_big = []
    for module, path in _modules().items():
        source = path.read_text()
        n_lines = source.count("\n")
        if n_lines > MAX_MODULE_LINES:
            too_big.append(f"module {module}: {n_lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_big.append(f"class {module}.{node.name}: {length} lines")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = _code_lines(node)
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"function {module}.{node.name}: {length} lines")
    assert not too_big, "\n".join(too_big)
