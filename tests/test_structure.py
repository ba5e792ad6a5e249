"""The code keeps the shape docs/architecture.md draws: no import cycles in src/, the daemon never
imports the CLI, handlers get their collaborators passed in, and the daemon layout in the doc
names every module there is (and none that is not).

The import graph is read from the source with `ast`, not by importing: every ``import x`` and
``from x import y`` anywhere in a file (also inside functions and ``if TYPE_CHECKING``), with
``from pkg import mod`` resolved to the module ``pkg.mod``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
DAEMON = SRC / "videonet_daemon"
CONTRACT = SRC / "videonet_protocol"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of src/ that ``module`` imports."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known and name != module}


def import_graph() -> Graph:
    files = source_files()
    known = set(files)
    return {module: imports_of(module, path, known) for module, path in files.items()}


def find_cycle(graph: Graph, within: str = "") -> list[str] | None:
    """One import cycle among the modules starting with ``within``, as [a, b, ..., a]."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if not target.startswith(within):
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start.startswith(within) and start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_resolves_every_import_form() -> None:
    graph = import_graph()
    # `from videonet_protocol import protocol` names the module protocol
    assert "videonet_protocol.protocol" in graph["videonet_daemon.cli"]
    # `from videonet_daemon.rooms.guard import RoomGuard`
    assert "videonet_daemon.rooms.guard" in graph["videonet_daemon.app"]
    # imports inside functions count too (cli.py imports the server lazily)
    assert "videonet_daemon.server" in graph["videonet_daemon.cli"]


def test_the_cycle_finder_names_the_cycle() -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert find_cycle(graph) == ["p.a", "p.b", "p.c", "p.a"]
    assert find_cycle({"p.a": {"p.b"}, "p.b": set()}) is None


@pytest.mark.parametrize("package", ["videonet_daemon", "videonet_cli", "videonet_protocol"])
def test_no_import_cycles(package: str) -> None:
    cycle = find_cycle(import_graph(), within=package)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("videonet_daemon", ("videonet_cli",)),
        ("videonet_cli", ("videonet_daemon",)),
        ("videonet_protocol", ("videonet_cli", "videonet_daemon")),
    ],
)
def test_the_two_sides_meet_only_in_the_contract(package: str, forbidden: tuple[str, ...]) -> None:
    """The daemon and the CLI never import each other; the contract imports neither."""
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith(package)
        for target in targets
        if target.startswith(forbidden)
    )
    assert wrong == []


def test_the_wire_contract_uses_the_standard_library_only() -> None:
    tree = ast.parse((CONTRACT / "protocol.py").read_text(encoding="utf-8"))
    imported = {
        (node.module or "" if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported


def test_no_handler_fetches_a_service_from_the_app() -> None:
    """Collaborators are passed to constructors in app.py, never looked up in app[...]."""
    lookups = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(DAEMON.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bapp\[|\bapp\.get\(|web\.AppKey\(", line)
    ]
    assert lookups == []


def daemon_layout() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    match = re.search(r"^## Daemon layout\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "docs/architecture.md has no '## Daemon layout' section"
    return match.group(1)


def test_the_daemon_layout_names_every_module() -> None:
    layout = daemon_layout()
    named = {name for name in re.findall(r"[\w/]+\.py\b", layout) if not name.startswith("tests/")}
    modules = {str(p.relative_to(DAEMON)) for p in DAEMON.rglob("*.py") if p.name != "__init__.py"}
    assert sorted(modules - named) == [], "modules missing from docs/architecture.md"
    assert sorted(named - modules) == [], "docs/architecture.md names modules that do not exist"


def test_the_longest_files_start_first() -> None:
    """conftest.LONGEST_FIRST names test files that exist (a renamed one would drop out of the
    list and could start last again), and `make test` keeps that order: pytest-xdist's own
    order (more tests first) would undo it."""
    from conftest import LONGEST_FIRST

    root = Path(__file__).resolve().parents[1]
    assert [name for name in LONGEST_FIRST if not (root / name).is_file()] == []
    assert "--no-loadscope-reorder" in (root / "Makefile").read_text()
