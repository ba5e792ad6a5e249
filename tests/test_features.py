"""Every feature is installed and started the same way: `install(router, hub)` declares its
routes (aiohttp route definitions) and its events (`Event`s), `start`/`stop` run in the feature
list's order and in reverse, and `app.build` lists features and starts nothing itself.
Features meet through the hub and the daemon bus, not by importing one another.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import pytest
from aiohttp import web

from test_structure import import_graph
from videonet_daemon.app import build
from videonet_daemon.feature import run_features
from videonet_daemon.realtime.hub import Hub
from videonet_daemon.settings import Settings

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

DAEMON = Path(__file__).resolve().parent.parent / "src" / "videonet_daemon"
FEATURE_PACKAGES = ("auth", "rooms", "keys", "chat", "presence", "relay", "calls", "web")
# What every feature may use of another package: who is behind a request, and the room guard.
SHARED = {"videonet_daemon.auth.request_auth", "videonet_daemon.rooms.guard"}


class Recorded:
    def __init__(self, name: str, log: list[str], fail_start: bool = False) -> None:
        self.name, self.log, self.fail_start = name, log, fail_start

    def install(self, router: web.UrlDispatcher, hub: Hub) -> None:
        self.log.append(f"install {self.name}")

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


async def run(features: list[Recorded], log: list[str]) -> None:
    running = run_features(features)(web.Application())
    await running.__anext__()
    log.append("serving")
    with pytest.raises(StopAsyncIteration):
        await running.__anext__()


def test_features_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    asyncio.run(run([Recorded(n, log) for n in ("bus", "database", "relay")], log))
    assert log == [
        "start bus",
        "start database",
        "start relay",
        "serving",
        "stop relay",
        "stop database",
        "stop bus",
    ]


def test_a_feature_that_cannot_start_stops_those_started_before_it() -> None:
    log: list[str] = []
    features = [Recorded("bus", log), Recorded("database", log), Recorded("relay", log, True)]
    running = run_features(features)(web.Application())
    with pytest.raises(RuntimeError, match="relay cannot start"):
        asyncio.run(running.__anext__())
    assert log == ["start bus", "start database", "stop database", "stop bus"]


def test_the_daemon_starts_and_stops_through_its_features(tmp_path: Path) -> None:
    """The real build: its one cleanup context is the feature runner; starting it migrates the
    database and makes the first invite, stopping it closes everything."""
    daemon = build(Settings.load(environ={}, data_dir=tmp_path / "data"))
    assert len(daemon.app.cleanup_ctx) == 1

    async def go() -> None:
        running = daemon.app.cleanup_ctx[0](daemon.app)
        await running.__anext__()
        assert daemon.bootstrap_invite
        assert await daemon.db.fetch_one("SELECT 1") is not None
        with pytest.raises(StopAsyncIteration):
            await running.__anext__()

    asyncio.run(go())
    assert (tmp_path / "data" / "bootstrap-invite").read_text().strip() == daemon.bootstrap_invite


def test_app_build_lists_features_and_starts_nothing_itself() -> None:
    tree = ast.parse((DAEMON / "app.py").read_text(encoding="utf-8"))
    build_def = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build")
    nested = [n.name for n in ast.walk(build_def) if isinstance(n, ast.AsyncFunctionDef)]
    assert nested == [], "start/stop steps belong in their features"
    text = ast.unparse(build_def)
    assert "create_task" not in text and "cleanup_ctx.append(run_features(features))" in text


def test_routes_and_events_are_declared_one_way() -> None:
    """No `router.add_get(...)`-style calls, `add_to(router)` or `.register()` in features:
    routes are `router.add_routes([...])`, events `hub.add_events([...])`."""
    found = [
        f"{path.relative_to(DAEMON)}:{number}: {line.strip()}"
        for package in (*FEATURE_PACKAGES, "ops.py", "openapi.py")
        for path in sorted(
            [DAEMON / package] if package.endswith(".py") else (DAEMON / package).glob("*.py")
        )
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"router\.add_(get|post|put|delete|route)\(|\.add_to\(|\.register\(\)", line)
        or re.search(r"\bhub\.on\(", line)
    ]
    assert found == []


def test_features_do_not_import_each_other() -> None:
    graph = import_graph()
    crossing = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.split(".")[1:2] and module.split(".")[1] in FEATURE_PACKAGES
        for target in targets
        if target.startswith("videonet_daemon.")
        and target.split(".")[1] in FEATURE_PACKAGES
        and target.split(".")[1] != module.split(".")[1]
        and target not in SHARED
    )
    assert crossing == []
