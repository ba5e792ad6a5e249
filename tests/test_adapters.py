"""Libraries' private internals are reached in one adapter module per library, and each adapter
checks them against the installed version: when python-socketio, engine.io, aiohttp or typer
changes under us, the test of that adapter fails saying what moved, instead of the daemon
breaking somewhere at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import socketio
from aiohttp import web

from videonet_cli.adapters import engineio as client_engineio_adapter
from videonet_daemon.adapters import aiohttp as aiohttp_adapter
from videonet_daemon.adapters import engineio as engineio_adapter
from videonet_daemon.adapters import socketio as socketio_adapter
from videonet_protocol.adapters import typer as typer_adapter
from videonet_protocol.adapters.check import installed

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

SRC = Path(__file__).resolve().parent.parent / "src"

ADAPTERS: dict[str, Callable[[], list[str]]] = {
    "python-socketio": socketio_adapter.problems,
    "python-engineio": engineio_adapter.problems,
    "aiohttp": aiohttp_adapter.problems,
    "typer": typer_adapter.problems,
    "python-engineio (client)": client_engineio_adapter.problems,
}


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_the_internals_each_adapter_uses_are_still_there(library: str) -> None:
    problems = ADAPTERS[library]()
    assert not problems, (
        f"{library} changed under its adapter; fix the adapter module, then move "
        "constraints.txt forward:\n" + "\n".join(problems)
    )


def test_a_moved_internal_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a library upgrade that renames an internal looks like to whoever runs the tests."""
    monkeypatch.delattr(socketio.AsyncRedisManager, "_redis_listen_with_retries")
    for cls in web.AppRunner.__mro__:  # where it is defined, and wherever it is inherited from
        if "_make_server" in vars(cls):
            monkeypatch.delattr(cls, "_make_server")
    socketio_problems = socketio_adapter.problems()
    assert len(socketio_problems) == 1
    assert re.fullmatch(
        r"python-socketio [\d.]+: AsyncRedisManager\._redis_listen_with_retries is gone",
        socketio_problems[0],
    )
    assert aiohttp_adapter.problems() == [f"{installed('aiohttp')}: AppRunner._make_server is gone"]


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def changed(self: object, server: object, sid: str, data: object) -> None: ...

    monkeypatch.setattr(socketio.AsyncServer, "_handle_event_internal", changed)
    [problem] = socketio_adapter.problems()
    assert "AsyncServer._handle_event_internal takes (server, sid, data)" in problem


# What each adapter wraps, as it is written where it is used.
INTERNALS = {
    "_handle_event_internal": "videonet_daemon/adapters/socketio.py",
    "manager.rooms": "videonet_daemon/adapters/socketio.py",
    "_publish": "videonet_daemon/adapters/socketio.py",
    "_redis_listen_with_retries": "videonet_daemon/adapters/socketio.py",
    "_redis_connect": "videonet_daemon/adapters/socketio.py",
    "eio.sockets": "videonet_daemon/adapters/engineio.py",
    "_make_server": "videonet_daemon/adapters/aiohttp.py",
    "server.__class__": "videonet_daemon/adapters/aiohttp.py",
    "typer._click": "videonet_protocol/adapters/typer.py",
    "_usage_display_name": "videonet_protocol/adapters/typer.py",
    "display_type_rich": "videonet_protocol/adapters/typer.py",
    "formatter_class": "videonet_protocol/adapters/typer.py",
    "context_class": "videonet_protocol/adapters/typer.py",
    "eio.http": "videonet_cli/adapters/engineio.py",
}


@pytest.mark.parametrize("internal", sorted(INTERNALS))
def test_each_internal_is_used_in_its_adapter_only(internal: str) -> None:
    users = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        # A whole name (`_publish`, not `_publishers`), so our own names may start alike.
        if re.search(rf"(?<![\w.]){re.escape(internal)}(?!\w)|\.{re.escape(internal)}(?!\w)",
                     path.read_text(encoding="utf-8"))
    )  # fmt: skip
    assert users == [INTERNALS[internal]]
