"""Fixtures: the real daemon as a subprocess on port 0 with a temporary data dir, the real CLI.

`daemon` is shared by the session (tests create their own users and rooms, so they do not
collide); `daemon_factory` starts a private one for tests that need fresh state or settings.
Under pytest-xdist the session is a worker's: each worker has its own `daemon`.

The helpers are in daemons.py; the names below are re-exported so `from conftest import …`
keeps working until the tests move into folders (then: `from daemons import …`).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemons import (
    BACKEND,
    BIN,
    CREATED_DATABASES,
    LOCAL_SPOOL,
    POSTGRES,
    STARTUP_TIMEOUT,
    TEST_PASSWORD,
    WORKER,
    Cli,
    CliResult,
    Daemon,
    User,
    base_env,
    daemon_command,
    database_args,
    http,
    postgres_admin,
    start_daemon,
)

# Tests that start the CLI with this process's own environment, or import it here, read
# English too (base_env gives the CLI's subprocesses the same).
os.environ["VIDEONET_LANG"] = "en"

__all__ = [
    "BACKEND",
    "BIN",
    "LOCAL_SPOOL",
    "POSTGRES",
    "STARTUP_TIMEOUT",
    "TEST_PASSWORD",
    "WORKER",
    "Cli",
    "CliResult",
    "Daemon",
    "User",
    "base_env",
    "daemon_command",
    "database_args",
    "http",
    "postgres_admin",
    "start_daemon",
]


def pytest_sessionstart(session: pytest.Session) -> None:
    # The CLI and the daemon under test speak from the .mo files: compile any .po newer than
    # its .mo (atomic writes: every xdist worker may get here at once).
    _compile_catalogues()
    if BACKEND == "postgresql":
        try:
            postgres_admin("SELECT 1")
        except Exception as exc:  # no server answers: the PostgreSQL run is skipped, loudly
            reason = f"PostgreSQL run skipped: no server answers at {POSTGRES} ({exc})"
            print(reason, file=sys.stderr)
            pytest.exit(reason, returncode=0)


def _compile_catalogues() -> None:
    from catalogues import script

    script().compile_all()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for name in CREATED_DATABASES:
        try:
            postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception as exc:
            print(f"could not drop test database {name}: {exc}", file=sys.stderr)


# The files that take longest on their worker, longest first (wall seconds in the SQLite pass of
# 2026-12-07, 115 down to 40; test_transfer and test_transfer_batch lead the PostgreSQL pass).
# `make test` turns off pytest-xdist's own order (files with more tests first, whatever they
# cost) so these start first and no long file is the last to start: that tail left cores idle
# for 40-60 s of each pass (docs/performance.md, "The suite"). The rest keep their order.
LONGEST_FIRST = (
    "tests/test_calls_sfu_media.py",
    "tests/test_object_storage.py",
    "tests/test_web_transfer.py",
    "tests/test_transfer.py",
    "tests/test_transfer_batch.py",
    "tests/test_auth_api.py",
    "tests/test_calls_scaleout.py",
    "tests/test_light_install.py",
    "tests/test_resource_caps.py",
    "tests/test_transfer_own_daemon.py",
    "tests/test_i18n_transfer.py",
    "tests/test_cli_help.py",
    "tests/test_receive_choice.py",
    "tests/analysis/test_analysis_model.py",
    "tests/test_i18n_rest.py",
    "tests/test_web_calls.py",
    "tests/test_transfer_code.py",
    "tests/test_operator.py",
)


def _longest_first(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _longest_first(items)
    if BACKEND == "sqlite":
        return
    skip = pytest.mark.skip(reason="checks the embedded SQLite database file")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)
        elif (marker := item.get_closest_marker("one_pass")) is not None:
            # Not about the database engine (the browser, the terminal, the install, the
            # code's shape) or on PostgreSQL in both passes: run once, in the SQLite pass.
            item.add_marker(pytest.mark.skip(reason=f"SQLite pass only: {marker.args[0]}"))


@pytest.fixture(scope="module", autouse=True)
def _garbage_stays_in_its_module() -> Iterator[None]:
    """Collect a test file's garbage when the file ends, so that what its finalizers do (an
    asyncio task destroyed while pending logs from there) happens in that file, not in the
    middle of whatever the worker runs next: once inside another file's `ast.parse`, which
    CPython 3.11 failed with "AST constructor recursion depth mismatch"."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # VIDEONET_TEST_SPOOL=s3: the shared daemon keeps transfer bytes in a SeaweedFS started for
    # the session (tests/object_store.py), so the transfer tests run against object storage.
    extra: dict[str, str] = {}
    store = None
    if os.environ.get("VIDEONET_TEST_SPOOL") == "s3":
        from object_store import weed_s3

        started = weed_s3(tmp_path_factory.mktemp("weed"))
        if isinstance(started, str):
            pytest.fail(f"VIDEONET_TEST_SPOOL=s3 but no object store: {started}")
        store = started
        # 1 MiB segments (the smallest): receivers see bytes in steps as small as the tests'
        # progress checks expect (8 MiB steps skip past "a quarter in" on a 16 MiB file).
        extra = store.env(store.new_bucket(), VIDEONET_SPOOL_SEGMENT_BYTES=str(1 << 20))
    d = start_daemon(tmp_path_factory.mktemp("daemon") / "data", **extra)
    yield d
    d.stop()
    if store is not None:
        store.stop()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def make(*args: str, data_dir: Path | None = None, **env: str) -> Daemon:
        d = start_daemon(data_dir or tmp_path / f"data{len(started)}", *args, **env)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def user(daemon: Daemon, tmp_path: Path) -> User:
    return daemon.make_user(tmp_path)


@pytest.fixture
def cli(daemon: Daemon, user: User) -> Cli:
    """The CLI authenticated as `user` (through VIDEONET_TOKEN)."""
    return Cli(daemon.url, user.config_dir, user.token)


@pytest.fixture
def anon_cli(daemon: Daemon, tmp_path: Path) -> Cli:
    """The CLI with no token and an empty config dir."""
    config = tmp_path / "cfg-anon"
    config.mkdir()
    return Cli(daemon.url, config)
