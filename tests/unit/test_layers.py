"""The package's shape: imports point down the layers, never in a circle; modules stay small.

The layers follow the data: bytes come off the wire (``source``), become Arrow
(``codec``, the payload formats and the schema registry), are held as events or
in a store, are queried and replayed, then drawn (``charts``), shown
(``widgets``) and served (``cli``, ``report``). A module may import from its
own layer or a lower one. Imports under ``if TYPE_CHECKING:`` never run and are
left out; an import inside a function runs, so it counts.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

import eventkit

ROOT = Path(eventkit.__file__).parent

# Lowest first. A module belongs to the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("eventkit.exceptions", "eventkit._typing", "eventkit._deprecated", "eventkit._deps",
     "eventkit._offline", "eventkit._display", "eventkit._time", "eventkit._colors",
     "eventkit.where", "eventkit.export",
     "eventkit.subjects"),
    ("eventkit.source", "eventkit.server"),
    ("eventkit.envelope", "eventkit.codec", "eventkit.formats"),
    ("eventkit.schema", "eventkit.registry", "eventkit._jsonschema", "eventkit._compatibility"),
    ("eventkit.query", "eventkit.browsing"),
    ("eventkit.events", "eventkit.connection"),
    ("eventkit.store",),
    ("eventkit.replay",),
    ("eventkit.charts",),
    ("eventkit.widgets",),
    ("eventkit.cli", "eventkit.report", "eventkit.sample", "eventkit"),
]


def layer_of(module: str) -> int:
    best, found = -1, None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), level
    if found is None:
        raise LookupError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    base = ROOT / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path) -> set[str]:
    """The eventkit modules that importing or running ``path`` may import."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path),
                      package=path.name == "__init__.py")


def imports_in(source_text: str, here: str, *, package: bool = False) -> set[str]:
    """The eventkit modules that running ``source_text`` as module ``here`` may import."""
    package_name = here if package else here.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "eventkit")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package_name.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] == "eventkit":
                for alias in node.names:
                    candidate = f"{source}.{alias.name}"
                    found.add(candidate if _is_module(candidate) else source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source_text))
    found.discard(here)
    return found


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {name: runtime_imports(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    mine = layer_of(module)
    upward = sorted(d for d in GRAPH[module] if layer_of(d) > mine)
    assert not upward, (
        f"{module} (layer {mine}) imports from a higher layer: "
        + ", ".join(f"{d} (layer {layer_of(d)})" for d in upward))


def test_no_import_cycles() -> None:
    # Package __init__ files re-export their children, which import back from the
    # package: those edges are the package's facade, not a cycle of logic.
    edges = {m: {d for d in deps if d in MODULES and not m.startswith(d + ".") and d != "eventkit"}
             for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            walk(name)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_the_checker_sees_an_upward_import_and_skips_type_only_ones() -> None:
    source_text = (
        "from typing import TYPE_CHECKING\n"
        "from eventkit import envelope\n"
        "from .widgets import explorer\n"
        "if TYPE_CHECKING:\n"
        "    from eventkit.store import Store\n"
        "def later():\n"
        "    import eventkit.charts\n")
    found = imports_in(source_text, "eventkit.query")
    assert found == {"eventkit.envelope", "eventkit.widgets.explorer", "eventkit.charts"}
    mine = layer_of("eventkit.query")
    assert sorted(d for d in found if layer_of(d) > mine) == [
        "eventkit.charts", "eventkit.widgets.explorer"]


MOST_LINES = 550  # of code, docstrings and comments aside (CONTRIBUTING.md)


def code_lines(source: str) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_code_lines_counts_code_only():
    source = '''"""Module doc,
    two lines."""
# a comment

def f(x):
    """Doc."""
    return (x +
            1)  # trailing comment
'''
    assert code_lines(source) == 3


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_big(module: str) -> None:
    lines = code_lines(MODULES[module].read_text(encoding="utf-8"))
    assert lines <= MOST_LINES, (
        f"{module} has {lines} lines of code (most: {MOST_LINES}): split it by concern")


def test_no_test_module_imports_another():
    """Shared test pieces live in tests/*.py (eventually, samples, oracles...), never in a test
    module that another imports: a test module is run, not used."""
    tests = ROOT.parent / "tests"
    crossing = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.split(".")[-1].startswith("test_")):
                crossing.append(f"{path.relative_to(tests)} imports {node.module}")
    assert not crossing, crossing
