"""The CLI's layering, pinned: commands use the typed client, cores know no typer, one table of
exit codes keyed by the daemon's error codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from videonet_cli.errors import DaemonRefused, ExitCode
from videonet_protocol.protocol import ErrorCode

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

CLI = Path(__file__).resolve().parent.parent / "src" / "videonet_cli"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_commands_never_format_wire_paths() -> None:
    offenders = [
        p.name for p in (CLI / "commands").glob("*.py") if "protocol.API_" in p.read_text()
    ]
    assert offenders == []


def test_only_the_commands_and_main_know_typer() -> None:
    shell = {CLI / "main.py", *(CLI / "commands").glob("*.py")}
    knows_typer = sorted(
        str(p.relative_to(CLI))
        for p in CLI.rglob("*.py")
        if p not in shell and any(m.split(".")[0] == "typer" for m in _imports(p))
    )
    assert knows_typer == []


def test_daemon_refusals_take_their_exit_code_from_the_error_code() -> None:
    assert DaemonRefused(ErrorCode.UNAUTHENTICATED, "x").exit_code == ExitCode.AUTH
    assert DaemonRefused(ErrorCode.INVALID_CREDENTIALS, "x").exit_code == ExitCode.AUTH
    assert DaemonRefused(ErrorCode.FORBIDDEN, "x").exit_code == ExitCode.AUTH
    assert DaemonRefused(ErrorCode.NOT_FOUND, "x").exit_code == ExitCode.NOT_FOUND
    assert DaemonRefused(ErrorCode.CONFLICT, "x").exit_code == ExitCode.FAILURE
    assert DaemonRefused("a code from a newer daemon", "x").exit_code == ExitCode.FAILURE
