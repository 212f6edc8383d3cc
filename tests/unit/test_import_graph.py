"""The packages' import graph: no cycles, and the layers point one way (cli → api → engine).

The graph is read from the source (AST), not by importing, so a test fails on the line that
adds a wrong import even if nothing runs it. Imports are kept in three kinds:

- module level (class bodies, `if`/`try` at the top included): they run when the module is
  imported. A cycle among these is a real hazard: which module sees the other half-initialised
  depends on which one was imported first (a name imported from it is missing, or a package's
  lazy attribute is looked up too early). None is allowed.
- function level: they run when the function is called, after both modules finished loading,
  so they cannot meet a half-initialised module. They are how a command imports Flask only for
  `serve`, or the migrations import Alembic. A cycle through them is no loading hazard, but it
  still means neither module can be understood, tested or moved without the other, and a lazy
  import is how this code base hid its cycles (engine.runtime <-> engine.messages): not allowed
  either, checked apart so a failure says which kind it is. They count for the layering too: a
  function-level `import flask` in the engine is the engine depending on Flask all the same.
- `if TYPE_CHECKING:`: never run; ignored.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "api", "cli")


@dataclass
class Module:
    name: str
    is_package: bool
    module_level: set[str] = field(default_factory=set)      # imported names (modules, packages, libraries)
    function_level: set[str] = field(default_factory=set)


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module):
    """(node, in_function) for every import statement outside `if TYPE_CHECKING:`."""
    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from walk(ast.Module(body=[other], type_ignores=[]), in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            yield from walk(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    yield from walk(tree, False)


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    package = base if module.is_package else base[:-1]
    package = package[:len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def build_graph() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    sources = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name, is_package = _module_name(path)
            modules[name] = Module(name, is_package)
            sources[name] = path
    for name, module in modules.items():
        tree = ast.parse(sources[name].read_text(), filename=str(sources[name]))
        for node, in_function in _imports(tree):
            targets = set()
            if isinstance(node, ast.Import):
                targets = {alias.name for alias in node.names}
            else:
                base = _resolve(module, node)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in modules else base)
            (module.function_level if in_function else module.module_level).update(targets)
    return modules


GRAPH = build_graph()


def _internal(target: str) -> str | None:
    """The module of ours an import names (`engine.models.Base` → engine.models), or None."""
    while target and target not in GRAPH:
        target = target.rpartition(".")[0]
    return target or None


def _top(target: str) -> str:
    return target.split(".")[0]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _edges(*, function_level: bool) -> dict[str, set[str]]:
    edges = {}
    for name, module in GRAPH.items():
        targets = module.module_level | (module.function_level if function_level else set())
        edges[name] = {t for t in map(_internal, targets) if t and t != name}
    return edges


def _offenders(importers, forbidden) -> list[str]:
    """'importer -> target' for every import (either kind) of a `forbidden` target by an `importers` module."""
    return sorted(f"{name} -> {target}" for name, module in GRAPH.items() if importers(name)
                  for target in module.module_level | module.function_level if forbidden(target))


def test_the_graph_is_read():
    # a parser that found nothing would make every assertion below pass
    assert {"engine.service", "engine.models", "api.app", "cli"} <= set(GRAPH)
    assert "engine.models" in _edges(function_level=False)["engine.service"]
    assert "api.server" in {_internal(t) for t in GRAPH["cli.serve"].function_level}


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}) == [["a", "b", "c"], ["e"]]


def test_no_cycle_among_module_level_imports():
    assert _cycles(_edges(function_level=False)) == []


def test_no_cycle_through_function_level_imports_either():
    assert _cycles(_edges(function_level=True)) == []


def test_the_engine_imports_neither_the_api_nor_the_command_line_nor_their_libraries():
    assert _offenders(lambda n: _top(n) == "engine", lambda t: _top(t) in {"api", "cli", "flask", "click",
                                                                          "flask_smorest", "waitress"}) == []


def test_the_api_does_not_import_the_command_line():
    assert _offenders(lambda n: _top(n) == "api", lambda t: _top(t) == "cli") == []


# The one module outside engine/archive that may import it: the migrations keep the whole schema, the
# archive's tables and its full-text objects included (engine.migrate.target_metadata).
SCHEMA_OWNER = {"engine.migrate"}

# The channels (issue 17) are an application layer above the archive: they send to the candidates it holds
# under the consent it keeps, and record replies and signals through it, so they may import it. The
# archive reaches back into one module of theirs, which imports tables only: its erasure, merge and
# consent withdrawal must reach channel data in every process, whatever channels that process loaded.
CHANNELS = "engine.channels"
CHANNEL_DATA = {"engine.channels.archive_hooks"}
# The candidate pages (issue 18: signed links, growth and goals pages) are a layer above the archive too, on
# the same terms: the archive reaches back into their tables-only hooks module alone.
CANDIDATE_PAGES = "engine.candidate_pages"
LINK_DATA = {"engine.candidate_pages.archive_hooks"}


def _under(name: str, package: str) -> bool:
    return (name + ".").startswith(package + ".")


def _engine_core(name: str) -> bool:
    return _top(name) == "engine" and not _under(name, "engine.archive") \
        and name not in SCHEMA_OWNER and not _under(name, CHANNELS) and not _under(name, CANDIDATE_PAGES)


def test_the_engine_core_does_not_import_the_archive():
    assert _offenders(_engine_core, lambda t: _under(t, "engine.archive")) == []


def test_the_archive_reaches_the_channels_through_their_tables_only():
    assert _offenders(lambda n: _under(n, "engine.archive"),
                      lambda t: _under(t, CHANNELS) and _internal(t) not in CHANNEL_DATA) == []
    tables = {"engine.models", "engine.archive_models", "engine.notification_models"}
    for name in CHANNEL_DATA:
        imported = {_internal(t) for t in GRAPH[name].module_level | GRAPH[name].function_level} - {None}
        assert imported and all(t in tables or t.endswith("_models") or t == f"{CHANNELS}.models"
                                for t in imported), sorted(imported)


def test_the_archive_reaches_the_candidate_pages_through_their_tables_only():
    assert _offenders(lambda n: _under(n, "engine.archive"),
                      lambda t: _under(t, CANDIDATE_PAGES) and _internal(t) not in LINK_DATA) == []
    for name in LINK_DATA:
        imported = {_internal(t) for t in GRAPH[name].module_level | GRAPH[name].function_level} - {None}
        assert imported and all(t in {"engine.models", "engine.archive_models", f"{CANDIDATE_PAGES}.models"}
                                for t in imported), sorted(imported)


def _loads_none_of(module: str, *names: str) -> None:
    """A fresh interpreter that imports `module` has none of `names` in sys.modules."""
    checks = "".join(f"; assert {n!r} not in sys.modules, {n!r}" for n in names)
    done = subprocess.run([sys.executable, "-c", f"import {module}, sys{checks}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_importing_a_channel_module_loads_no_other_channel():
    """Registration is explicit (engine.channels.builtin.load_builtin), not a side effect of the package."""
    _loads_none_of("engine.channels.outbox", "engine.channels.wecom", "engine.channels.email")


def test_importing_the_models_loads_neither_alembic_nor_the_archive():
    """The models are imported by every process; Alembic (migrations) and the archive are not their business."""
    _loads_none_of("engine.models", "alembic", "engine.archive")


def test_the_command_line_starts_without_flask():
    """`recall --help`, `validate` and friends: Flask is imported by `recall serve` alone."""
    _loads_none_of("cli", "flask")
