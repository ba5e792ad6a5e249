"""Helpers for the identity tests: a person's device (its own data dir) driven through the real
CLI or the trust core in-process, and a proxy that plays a lying daemon by rewriting answers."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from code_proxy import TamperProxy

from conftest import Cli, Daemon, User, http

T = TypeVar("T")


@dataclass
class Device:
    """One installation of one person's CLI: its own config and data dir."""

    user: User
    cli: Cli

    @property
    def data_dir(self) -> Path:
        return self.cli.config_dir / "data"

    @property
    def identity_dir(self) -> Path:
        return self.data_dir / "identity"

    def run(self, work: Callable[[Any], Awaitable[T]], server: str | None = None) -> T:
        """``work(api)`` in this process, as this device (its data dir) on ``server``."""
        from videonet_cli.api import Api

        async def go() -> T:
            async with Api(server or self.cli.daemon_url, self.user.token) as api:
                return await work(api)

        old = os.environ.get("VIDEONET_DATA_DIR")
        os.environ["VIDEONET_DATA_DIR"] = str(self.data_dir)
        try:
            return asyncio.run(go())
        finally:
            if old is None:
                os.environ.pop("VIDEONET_DATA_DIR", None)
            else:
                os.environ["VIDEONET_DATA_DIR"] = old


def device(
    daemon: Daemon, user: User, tmp_path: Path, name: str = "", server: str | None = None
) -> Device:
    """A device of ``user`` talking to ``server`` (default: the daemon itself; a `LyingDaemon`'s
    URL puts a liar in between: pins and identities are kept per server address)."""
    folder = tmp_path / f"dev-{user.username}-{name or uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    return Device(user, Cli(server or daemon.url, folder, user.token))


def first_device(
    daemon: Daemon, user: User, tmp_path: Path, server: str | None = None
) -> tuple[Device, str]:
    """The person's first device, which makes their identity; returns it and the recovery key."""
    d = device(daemon, user, tmp_path, "first", server)
    r = d.cli("devices", "--json")
    assert r.code == 0, r.err
    return d, str(r.json()["recovery_key"])


def restored_device(daemon: Daemon, user: User, tmp_path: Path, recovery: str) -> Device:
    d = device(daemon, user, tmp_path)
    r = d.cli("devices", "--json", VIDEONET_RECOVERY_KEY=recovery)
    assert r.code == 0, r.err
    return d


def room_of(daemon: Daemon, owner: User, *members: User) -> str:
    status, room, _ = http(
        "POST", daemon.api("/api/rooms/create"), {"name": f"id-{uuid.uuid4().hex[:8]}"}, owner.token
    )
    assert status == 201, room
    for m in members:
        assert http("POST", daemon.api(f"/api/rooms/{room['id']}/join"), token=m.token)[0] == 200
    return str(room["id"])


Rewrite = Callable[[str, str, Any], Any]  # (method, path, decoded JSON answer) -> new answer


def member_keys(
    path: str, answer: Any, username: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> Any:
    """``answer`` with ``username``'s keys changed, wherever the daemon lists them: alone
    (``/users/NAME/keys``, a send --to NAME) or among the room's (``/rooms/ID/keys``, a send to
    the whole room)."""
    if path.endswith(f"/users/{username}/keys"):
        return change(answer)
    if "/rooms/" in path and path.endswith("/keys") and isinstance(answer, dict):
        members = [change(m) if m["username"] == username else m for m in answer["members"]]
        return {**answer, "members": members}
    return answer


def honest(method: str, path: str, answer: Any) -> Any:
    return answer


class LyingDaemon(TamperProxy):
    """Forwards everything; the JSON answers of HTTP requests go through ``rewrite`` first (it
    returns the answer to give, changed or not; set it when the lie should start). Counts the
    answers it changed."""

    def __init__(self, upstream: str, rewrite: Rewrite = honest) -> None:
        super().__init__(upstream)
        self.rewrite = rewrite
        self.changed = 0

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        # Streamed on: an upload cut short reaches the daemon as far as it got.
        data = request.content if request.body_exists else None
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=data
        ) as upstream:
            body = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            answer = json.loads(body)
            changed = self.rewrite(request.method, request.path, answer)
            if changed != answer:  # a lie is told with a straight face: 200
                self.changed += 1
                body, status = json.dumps(changed).encode(), 200
            return web.Response(status=status, body=body, content_type="application/json")
        headers = {"Content-Type": content_type} if content_type else {}
        return web.Response(status=status, body=body, headers=headers)


_HOP = {"host", "connection", "content-length", "transfer-encoding", "content-encoding"}
_HOP |= {"upgrade", "keep-alive"}
