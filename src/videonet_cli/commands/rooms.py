"""`videonet rooms list|create|join|leave|members`."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, create, join and leave rooms.", no_args_is_help=True)
