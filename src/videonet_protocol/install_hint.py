"""The command that adds an extra to *this* installation, as it was installed.

A missing extra is named with the line a person can paste: `pipx install --force …` under pipx,
`uv tool install --force …` under uv, the environment's own `python -m pip install …` otherwise;
and the package as it came: `videonet` from a package index, or the directory of a clone (with
`-e` / `--editable` when installed so). Both commands use it (`videonet`, `videonet-daemon`).
Standard library only.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

DISTRIBUTION = "videonet"
PIPX_MARKER = "pipx_metadata.json"
UV_MARKER = "uv-receipt.toml"


def installed_from() -> tuple[str, bool]:
    """Where this installation came from: ("videonet", False) from an index, else (a local
    directory, whether it is an editable install), read from pip's direct_url.json (PEP 610)."""
    try:
        raw = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return DISTRIBUTION, False
    if not raw:
        return DISTRIBUTION, False
    try:
        info = json.loads(raw)
    except ValueError:
        return DISTRIBUTION, False
    url = urlsplit(str(info.get("url", "")))
    if url.scheme != "file" or "dir_info" not in info:
        return DISTRIBUTION, False
    return unquote(url.path), bool(info["dir_info"].get("editable"))


def install_command(
    extra: str,
    *,
    prefix: str | None = None,
    executable: str | None = None,
    source: tuple[str, bool] | None = None,
) -> str:
    """The one line that installs ``extra`` into this installation."""
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    where, editable = installed_from() if source is None else source
    target = f"'{where}[{extra}]'"
    tool = installed_by(Path(prefix))
    if tool == "pipx":
        return f"pipx install --force {'--editable ' if editable else ''}{target}"
    if tool == "uv":
        return f"uv tool install --force {'--editable ' if editable else ''}{target}"
    return f"{executable} -m pip install {'-e ' if editable else ''}{target}"


def installed_by(prefix: Path) -> str | None:
    """ "pipx" or "uv" when the environment at ``prefix`` is one of their tools, else None.

    Each leaves a file in the environments it makes (pipx `pipx_metadata.json`, uv
    `uv-receipt.toml`), wherever PIPX_HOME or UV_TOOL_DIR put them; without it, their default
    layouts (`…/pipx/venvs/NAME`, `…/uv/tools/NAME`)."""
    parts = prefix.parts
    if (prefix / PIPX_MARKER).exists() or ("pipx" in parts and "venvs" in parts):
        return "pipx"
    if (prefix / UV_MARKER).exists() or ("uv" in parts and "tools" in parts):
        return "uv"
    return None
