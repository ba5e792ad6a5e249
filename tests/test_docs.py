"""The user docs stay true: every command and option, every setting, every exit code."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from videonet_cli.errors import ExitCode
from videonet_cli.main import app as cli_app
from videonet_daemon.cli import app as daemon_app
from videonet_daemon.settings import markdown_table

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

DOCS = Path(__file__).resolve().parent.parent / "docs"


def walk(command: Any, prefix: list[str]) -> Iterator[tuple[str, Any]]:
    subs = getattr(command, "commands", None)
    if subs:
        for name, sub in sorted(subs.items()):
            yield from walk(sub, [*prefix, name])
    else:
        yield " ".join(prefix), command


COMMANDS = [
    *walk(typer.main.get_command(cli_app), ["videonet"]),
    *walk(typer.main.get_command(daemon_app), ["videonet-daemon"]),
]


def section(doc: str, name: str) -> str:
    match = re.search(rf"^### `{re.escape(name)}`\n(.*?)(?=^#|\Z)", doc, re.M | re.S)
    assert match, f"docs/cli.md has no section for `{name}`"
    return match.group(1)


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_and_option_is_in_the_cli_reference(name: str, command: Any) -> None:
    text = section((DOCS / "cli.md").read_text(), name)
    for param in command.params:
        for opt in param.opts:
            if opt.startswith("--") and opt not in ("--help",):
                assert opt in text, f"{name}: option {opt} is not documented"


def test_cli_reference_is_generated_from_the_commands() -> None:
    script = DOCS.parent / "scripts" / "cli_reference.py"
    r = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_command_has_help() -> None:
    for name, command in COMMANDS:
        assert (command.help or "").strip(), f"{name} has no help text"


def test_settings_table_is_current() -> None:
    assert markdown_table() in (DOCS / "settings.md").read_text()


def test_every_exit_code_is_documented() -> None:
    text = (DOCS / "exit-codes.md").read_text()
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \| `{code.name}` \|", text, re.M), code.name


def test_readme_starts_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands[:2] == ["make demo", "make test"]
