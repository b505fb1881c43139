"""The house rules of the tree, checked on the source: layers, cycles, sizes, ``__all__``."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("solvers", "microstructure")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """Statements that run when the module is imported (``if TYPE_CHECKING:`` blocks and
    function bodies excluded)."""
    out: list[ast.AST] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [s for h in getattr(node, "handlers", []) for s in h.body]
        out.append(node)
    return out


def _imports(name: str, path: Path, *, at_import: bool = False) -> list[tuple[str, int]]:
    """``(imported module, line)`` of every import in ``path`` (function-level ones too, unless
    ``at_import``), relative imports resolved, ``from x import y`` as ``x.y`` when that is a
    module."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in (_module_level(tree) if at_import else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub if sub in MODULES else mod, node.lineno))
    return [(m, line) for m, line in out if m.split(".")[0] in PACKAGES]


def _layer(mod: str) -> int:
    if mod.startswith("solvers"):
        return 0
    if mod.startswith("microstructure.studies"):
        return 2
    return 1


def test_imports_run_one_way():
    """solvers <- generator <- application; never upwards (the lazy deprecation shims of
    ``microstructure.__getattr__`` excepted)."""
    bad = []
    for name, path in MODULES.items():
        for mod, line in _imports(name, path):
            if _layer(mod) > _layer(name):
                if name == "microstructure" and mod == "microstructure.studies":
                    continue  # the deprecated names, resolved lazily on first use
                if name == "microstructure.__main__":
                    continue  # `python -m microstructure` launches the CLI
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_no_private_names_across_packages():
    bad = []
    for name, path in MODULES.items():
        top = name.split(".")[0]
        for mod, line in _imports(name, path):
            if mod.split(".")[0] != top and any(p.startswith("_") for p in mod.split(".")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    """No cycle among the imports that run at import time (a lazy import inside a function,
    e.g. the GPU path or ``Microstructure.save`` -> its store module, is no cycle)."""
    graph = {n: {m for m, _ in _imports(n, p, at_import=True) if m in MODULES and m != n}
             for n, p in MODULES.items()}
    # a package's __init__ importing its own submodules is how packages are built: only
    # cycles through plain modules count
    for n in graph:
        graph[n] = {m for m in graph[n] if not n.startswith(m + ".")}
    cycles = []
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1:
                cycles.append(" -> ".join([*stack[stack.index(m):], m]))
            elif m not in state:
                visit(m, [*stack, m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {n} lines"


PUBLIC = sorted(n for n, p in MODULES.items()
                if not any(part.startswith("_") for part in n.split("."))
                and not n.endswith("__main__"))


@pytest.mark.parametrize("name", PUBLIC)
def test_public_modules_declare_all(name):
    tree = ast.parse(MODULES[name].read_text())
    names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{name} has no __all__"


def test_moved_sweep_names_still_work_with_a_deprecation_warning():
    import microstructure as ms
    from microstructure import studies

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ms.run_sweep is studies.run_sweep
        assert ms.load_results is studies.load_results
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ms.nope  # noqa: B018
