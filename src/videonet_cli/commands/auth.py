"""Account commands: register, login, logout, whoami."""

from __future__ import annotations

import typer


def register_commands(app: typer.Typer) -> None:
    """Attach the account commands to the root app (they are top-level verbs)."""
