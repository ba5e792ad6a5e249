"""Regenerate the usage line and option table of every command in docs/cli.md from the commands.

    python scripts/cli_reference.py          # rewrite docs/cli.md
    python scripts/cli_reference.py --check  # exit 1 if docs/cli.md is not current (the tests)

Each command's section (``### `videonet send` ``) keeps its hand-written prose; what this script
owns sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` right under the
heading. A command without a section gets one at the end of the file, to be moved and described.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
END = "<!-- end generated -->"


def _commands() -> Iterator[tuple[str, Any]]:
    """(full name, click command) for both roots and every leaf under them."""
    sys.path.insert(0, str(ROOT / "src"))
    # The reference is English, whatever language this terminal speaks (docs/i18n.md).
    os.environ["VIDEONET_LANG"] = "en"
    from videonet_cli.main import build_command as videonet
    from videonet_daemon.cli import build_command as videonet_daemon

    for prog, root in (("videonet", videonet()), ("videonet-daemon", videonet_daemon())):
        yield prog, root
        yield from _leaves(root, [prog])


def _leaves(command: Any, prefix: list[str]) -> Iterator[tuple[str, Any]]:
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if getattr(sub, "commands", None):
            yield from _leaves(sub, [*prefix, name])
        else:
            yield " ".join([*prefix, name]), sub


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _option_row(param: Any) -> str | None:
    if getattr(param, "hidden", False) or param.name == "help":
        return None
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    metavar = "" if getattr(param, "is_flag", False) else (param.metavar or "")
    if metavar:
        names = names.replace(f"`{param.opts[-1]}`", f"`{param.opts[-1]} {metavar}`")
    notes = ["required"] if param.required else []
    default = param.default
    if (
        default not in (None, False, "", ())
        and not callable(default)
        and getattr(param, "show_default", True)
    ):
        notes.append(f"default: `{default}`")
    envvar = getattr(param, "envvar", None)
    if envvar:
        notes.append(f"env: `{envvar}`")
    text = " ".join([param.help or "", f"({'; '.join(notes)})" if notes else ""])
    return f"| {_cell(names)} | {_cell(text)} |"


def generated(name: str, command: Any) -> str:
    """The block this script owns for one command."""
    from videonet_protocol.adapters.typer import Context

    ctx = Context(command, info_name=name)
    pieces = " ".join(command.collect_usage_pieces(ctx))
    lines = [f"<!-- generated: {name} -->", f"Usage: `{name} {pieces}`", ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    for arg in arguments:
        lines.append(f"- `{arg.metavar or arg.name.upper()}`: {' '.join((arg.help or '').split())}")
    if arguments:
        lines.append("")
    rows = [row for p in command.params if p.param_type_name == "option" if (row := _option_row(p))]
    if rows:
        lines += ["| Option | Meaning |", "|---|---|", *rows, ""]
    lines.append(END)
    return "\n".join(lines)


def render(doc: str) -> str:
    """``doc`` with every generated block current and a section for every command."""
    for name, command in _commands():
        block = generated(name, command)
        existing = re.compile(rf"<!-- generated: {re.escape(name)} -->\n.*?{re.escape(END)}", re.S)
        if existing.search(doc):
            doc = existing.sub(lambda _m, b=block: b, doc, count=1)
            continue
        heading = re.compile(rf"^(#+ `{re.escape(name)}`\n)", re.M)
        if heading.search(doc):
            doc = heading.sub(lambda m, b=block: m.group(1) + b + "\n\n", doc, count=1)
        else:
            doc = doc.rstrip("\n") + f"\n\n### `{name}`\n{block}\n"
    return doc


def main(argv: list[str]) -> int:
    current = DOC.read_text()
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print(
                "docs/cli.md is not current: run python scripts/cli_reference.py", file=sys.stderr
            )
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
