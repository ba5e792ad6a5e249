"""`videonet-daemon`: serve, invite create, check."""

from __future__ import annotations

import typer

app = typer.Typer(name="videonet-daemon", no_args_is_help=True, add_completion=False)


def main() -> None:
    app()
