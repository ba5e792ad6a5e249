"""Libraries' private internals are reached in one adapter module per library, and each adapter
checks them against the installed version: when python-socketio, engine.io, aiohttp or typer
changes under us, the test of that adapter fails saying what moved, instead of the daemon
breaking somewhere at run time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

from videonet_daemon.adapters import aiohttp as aiohttp_adapter
from videonet_daemon.adapters import engineio as engineio_adapter
from videonet_daemon.adapters import socketio as socketio_adapter
from videonet_protocol.adapters import aiohttp as client_aiohttp_adapter
from videonet_protocol.adapters import typer as typer_adapter
from videonet_protocol.adapters.check import installed

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

SRC = Path(__file__).resolve().parent.parent / "src"

ADAPTERS: dict[str, Callable[[], list[str]]] = {
    "python-socketio": socketio_adapter.problems,
    "python-engineio": engineio_adapter.problems,
    "aiohttp": aiohttp_adapter.problems,
    "typer": typer_adapter.problems,
    "aiohttp (client)": client_aiohttp_adapter.problems,
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
    "_runtime_param": "videonet_protocol/adapters/typer.py",
    "coerce_cli_path": "videonet_protocol/adapters/typer.py",
    "build_runtime_param": "videonet_protocol/adapters/typer.py",
    "_SSL_CONTEXT_VERIFIED": "videonet_protocol/adapters/aiohttp.py",
    "_SSL_CONTEXT_UNVERIFIED": "videonet_protocol/adapters/aiohttp.py",
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


# In a fresh interpreter, as the `videonet` and `videonet-daemon serve` processes import aiohttp:
# its default contexts hold no certificate until their first connection, then the same ones a
# default context loads, with aiohttp's settings (verification, hostname check) untouched.
DEFERRED_CERTIFICATES = """
import ssl, sys
from videonet_protocol.adapters.aiohttp import CertificatesAtFirstUse, defer_certificates
defer_certificates()
import aiohttp.connector as c
verified, unverified = c._SSL_CONTEXT_VERIFIED, c._SSL_CONTEXT_UNVERIFIED
assert type(verified) is type(unverified) is CertificatesAtFirstUse
assert "set_default_verify_paths" not in vars(ssl.SSLContext)
assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
assert verified.cert_store_stats() == unverified.cert_store_stats() == {
    "x509": 0, "crl": 0, "x509_ca": 0}
verified.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
assert verified.cert_store_stats() == ssl.create_default_context().cert_store_stats()
assert verified._certificates_loaded and not unverified._certificates_loaded
assert unverified.cert_store_stats()["x509_ca"] == 0
"""


def test_aiohttp_contexts_read_the_ca_bundle_at_their_first_connection() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DEFERRED_CERTIFICATES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --- quick_coercion: the same values and the same errors as typer's pydantic adapters ---------

SAMPLE_VALUES: tuple[Any, ...] = (
    "0", "7", "-3", "007", "60", "1.5", "-0.25", " 7", "7 ", "1_000", "7.0", "1e3", "inf",
    "abc", "", "-", "/", "/nonexistent/x", "a\0b", 3, 2.5, -1, True, False, 0,
)  # fmt: skip


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        value = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # the error a user would read, exactly
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return type(exc).__name__, message
    return type(value).__name__, value


def _tree(command: Any, parent: Any = None, name: str = "") -> Iterator[tuple[Any, Any]]:
    from videonet_protocol.adapters.typer import Context

    ctx = Context(command, info_name=name, parent=parent, **command.context_settings)
    yield command, ctx
    for child_name, child in (getattr(command, "commands", None) or {}).items():
        yield from _tree(child, ctx, child_name)


def test_quick_coercion_converts_as_typer_does(tmp_path: Path) -> None:
    """Every parameter of `videonet` and `videonet-daemon` given the quick converter turns each
    sample (as typed, as a default, in a list) into what typer's own adapter makes of it, or
    fails with the same error: nothing a user sees changes, only pydantic is not imported."""
    from typer._coercion import build_runtime_param

    from videonet_cli.main import build_command as videonet_command
    from videonet_daemon.cli import build_command as daemon_command
    from videonet_protocol.adapters.typer import _QuickParam

    existing = tmp_path / "file.txt"
    existing.write_text("x")
    samples = (*SAMPLE_VALUES, str(existing), str(tmp_path), existing)
    checked: set[str] = set()
    for root in (videonet_command(), daemon_command()):
        for command, ctx in _tree(root):
            for param in [*command.params, command.get_help_option(ctx)]:
                quick = getattr(param, "_runtime_param", None)
                if not isinstance(quick, _QuickParam):
                    continue
                full = build_runtime_param(param.type_descriptor)
                default = [] if callable(param.default) else [param.default]
                values: list[Any] = [*samples, *default]
                if quick.listed:
                    values = [(v,) for v in values] + [(samples[1], v) for v in values]
                for value in values:
                    got = _outcome(quick, value, param, ctx)
                    want = _outcome(full, value, param, ctx)
                    assert got == want, (command.name, param.name, value)
                checked.add(repr(param.type_descriptor.annotation))
    # The kinds the commands have today, each checked at least once.
    assert {"<class 'str'>", "<class 'int'>", "<class 'float'>", "<class 'bool'>"} <= checked
    assert "list[pathlib.Path]" in checked and "<class 'pathlib.Path'>" in checked


def test_a_command_line_is_parsed_without_pydantic() -> None:
    code = (
        "import sys\n"
        "from videonet_cli.main import build_command\n"
        "root = build_command()\n"
        "ctx = root.make_context('videonet', ['send', 'room', '/', '--json', '--timeout', '5'])\n"
        "send = root.get_command(ctx, 'send')\n"
        "sub = send.make_context('send', ['room', '/', '--json', '--timeout', '5'], parent=ctx)\n"
        "assert sub.params['timeout'] == 5.0 and sub.params['json_out'] is True, sub.params\n"
        "assert 'pydantic' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
