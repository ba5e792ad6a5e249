"""`videonet config get|set|unset|list`: the saved defaults (server, room, output, insecure,
language)."""

from __future__ import annotations

import typer

from videonet_cli import config
from videonet_cli.i18n import _
from videonet_cli.render import console as output

app = typer.Typer(
    help=_("Show and change the saved defaults: {keys}.").format(
        keys=", ".join(config.CONFIG_KEYS)
    ),
    no_args_is_help=True,
)

JsonOption = typer.Option(False, "--json", help=_("Print JSON."))


def _complete_key(incomplete: str) -> list[str]:
    return [key for key in config.CONFIG_KEYS if key.startswith(incomplete)]


KeyArgument = typer.Argument(
    ...,
    help=_("One of: {keys}.").format(keys=", ".join(config.CONFIG_KEYS)),
    metavar="KEY",
    autocompletion=_complete_key,
)


@app.command("get", help=_("Print one key's value (its default when it was never set)."))
def get(key: str = KeyArgument, json_out: bool = JsonOption) -> None:
    """`videonet config get KEY`."""
    config.require_key(key)
    value = config.config_value(key)
    if json_out:
        output.print_json({"key": key, "value": value})
    else:
        output.info(value)


@app.command(
    "set", help=_("Save a key (the value is checked first: a server URL as for --server).")
)
def set_(
    key: str = KeyArgument,
    value: str = typer.Argument(..., help=_("The new value."), metavar="VALUE"),
    json_out: bool = JsonOption,
) -> None:
    """`videonet config set KEY VALUE`."""
    saved = config.set_config_value(key, value)
    if json_out:
        output.print_json({"key": key, "value": saved})
    else:
        output.info(f"{key} = {saved}")


@app.command("unset", help=_("Forget a key, so its default applies again."))
def unset(key: str = KeyArgument, json_out: bool = JsonOption) -> None:
    """`videonet config unset KEY`."""
    config.require_key(key)
    removed = config.unset_config_value(key)
    if json_out:
        output.print_json({"key": key, "removed": removed, "value": config.config_value(key)})
    else:
        output.info(_("{key} = {value} (default)").format(key=key, value=config.config_value(key)))


@app.command("list", help=_("Every key with its value, and whether it is saved or the default."))
def list_(json_out: bool = JsonOption) -> None:
    """`videonet config list`: a table for people, one JSON object for scripts."""
    saved = config.read_config()
    rows = [
        {
            "key": key,
            "value": config.config_value(key),
            "source": "saved" if key in saved else "default",
            "help": _(spec.help),
        }
        for key, spec in config.CONFIG_KEYS.items()
    ]
    if json_out:
        output.print_json({row["key"]: row["value"] for row in rows})
    else:
        if output.console().is_terminal:  # piped rows keep their values, as for every table
            for row in rows:
                row["source"] = _("saved") if row["source"] == "saved" else _("default")
        columns = [
            ("key", _("Key")),
            ("value", _("Value")),
            ("source", _("Source")),
            ("help", _("Meaning")),
        ]
        output.print_table(
            rows,
            columns,
            title=_("Config ({path})").format(path=config.config_dir() / config.CONFIG_FILE),
        )
