"""docs/analysis.md stays true: the settings table, every option, the measured accuracy."""

from __future__ import annotations

from pathlib import Path

import typer.main

from videonet_cli.analysis.settings import markdown_table
from videonet_cli.main import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"


def test_settings_table_is_current() -> None:
    assert markdown_table() in DOC.read_text()


def test_every_analyze_and_ask_option_is_documented() -> None:
    text = DOC.read_text()
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in ("analyze", "ask"):
        for param in commands[name].params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    assert f"`{opt}" in text, f"{name}: {opt} is not in docs/analysis.md"


def test_repl_commands_are_documented() -> None:
    text = DOC.read_text()
    for word in ("`exit`", "`quit`", "`!multi`", "`!end`", "`/reset`", "`/history`", "`/frames`"):
        assert word in text
