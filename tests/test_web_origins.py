"""Who may open Socket.IO connections: the daemon's own origin, and the listed extra ones.

(Apart from the browser tests: Playwright's sync API holds an event loop that async tests
cannot share.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")


async def connects(daemon: Daemon, token: str, origin: str) -> bool:
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    try:
        await sio.connect(
            daemon.url, auth={"token": token}, headers={"Origin": origin}, transports=["websocket"]
        )
    except socketio.exceptions.ConnectionError:
        return False
    await sio.disconnect()
    return True


async def test_socketio_takes_other_origins_only_when_listed(
    daemon: Daemon, daemon_factory: Any, tmp_path: Path
) -> None:
    user = daemon.make_user(tmp_path)
    assert await connects(daemon, user.token, daemon.url)
    assert not await connects(daemon, user.token, "https://app.example.test")

    listed = daemon_factory(VIDEONET_WEB_ALLOWED_ORIGINS="https://app.example.test")
    other = listed.make_user(tmp_path / "listed")
    assert await connects(listed, other.token, "https://app.example.test")
    assert await connects(listed, other.token, listed.url)
    assert not await connects(listed, other.token, "https://evil.example.test")


def test_a_bad_allowed_origin_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    from conftest import daemon_command

    done = daemon_command(
        "serve",
        "--port",
        "0",
        data_dir=tmp_path / "data",
        VIDEONET_WEB_ALLOWED_ORIGINS="app.example.test/path",
    )
    assert done.returncode == 2
    assert "web_allowed_origins" in done.stderr and "Traceback" not in done.stderr
