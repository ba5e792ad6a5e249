"""`videonet config get|set|unset|list`: the saved defaults (server, room, output, insecure)."""

from __future__ import annotations

import typer

from videonet_cli import config
from videonet_cli.render import console as output

app = typer.Typer(
    help="Show and change the saved defaults: " + ", ".join(config.CONFIG_KEYS) + ".",
    no_args_is_help=True,
)

JsonOption = typer.Option(False, "--json", help="Print JSON.")


def _complete_key(incomplete: str) -> list[str]:
    return [key for key in config.CONFIG_KEYS if key.startswith(incomplete)]


KeyArgument = typer.Argument(
    ...,
    help="One of: " + ", ".join(config.CONFIG_KEYS) + ".",
    metavar="KEY",
    autocompletion=_complete_key,
)


@app.command("get")
def get(key: str = KeyArgument, json_out: bool = JsonOption) -> None:
    """Print one key's value (its default when it was never set)."""
    config.require_key(key)
    value = config.config_value(key)
    if json_out:
        output.print_json({"key": key, "value": value})
    else:
        output.info(value)


@app.command("set")
def set_(
    key: str = KeyArgument,
    value: str = typer.Argument(..., help="The new value.", metavar="VALUE"),
    json_out: bool = JsonOption,
) -> None:
    """Save a key (the value is checked first: a server URL as for --server)."""
    saved = config.set_config_value(key, value)
    if json_out:
        output.print_json({"key": key, "value": saved})
    else:
        output.info(f"{key} = {saved}")


@app.command("unset")
def unset(key: str = KeyArgument, json_out: bool = JsonOption) -> None:
    """Forget a key, so its default applies again."""
    config.require_key(key)
    removed = config.unset_config_value(key)
    if json_out:
        output.print_json({"key": key, "removed": removed, "value": config.config_value(key)})
    else:
        output.info(f"{key} = {config.config_value(key)} (default)")


@app.command("list")
def list_(json_out: bool = JsonOption) -> None:
    """Every key with its value, and whether it is saved or the default."""
    saved = config.read_config()
    rows = [
        {
            "key": key,
            "value": config.config_value(key),
            "source": "saved" if key in saved else "default",
            "help": spec.help,
        }
        for key, spec in config.CONFIG_KEYS.items()
    ]
    if json_out:
        output.print_json({row["key"]: row["value"] for row in rows})
    else:
        columns = [("key", "Key"), ("value", "Value"), ("source", "Source"), ("help", "Meaning")]
        output.print_table(
            rows, columns, title=f"Config ({config.config_dir() / config.CONFIG_FILE})"
        )
