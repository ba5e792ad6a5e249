"""`videonet invite create|list`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Create and list invite codes.", no_args_is_help=True)
