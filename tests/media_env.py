"""Where media tests run: a network namespace of their own (tests/netns.py), with the daemon (and
Janus, for calls through the SFU) started inside it.

A test module of mesh calls imports two fixtures: `own_namespace` (autouse, module scope: the
module's tests and every fixture of theirs run inside one namespace, entered before anything
else of the module starts) and `namespace_daemon` (the `daemon` fixture for that module: a
daemon started inside it, in place of the session's daemon outside). `namespace_cluster`
(with `private_servers`) is test_scaleout's `cluster` inside the namespace, on a PostgreSQL and
a Redis of the module's own. `sfu_world` makes a namespace with Janus and a daemon that drives
it. All skip, saying why, where no namespace can be made (not root) or Janus is missing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import janus_server
import netns
from fault_servers import PrivatePostgres, PrivateRedis, Unavailable
from test_scaleout import Cluster

from conftest import Daemon, start_daemon


def skip_unless_namespaces() -> None:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module", autouse=True, name="own_namespace")
def own_namespace() -> Iterator[netns.Netns]:
    skip_unless_namespaces()
    with netns.namespace() as ns:
        yield ns


@pytest.fixture(scope="module", name="daemon")
def namespace_daemon(
    own_namespace: netns.Netns, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("daemon-ns") / "data")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def private_servers(
    own_namespace: netns.Netns,
) -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """PostgreSQL and Redis of the module's own, inside its namespace (the machine's shared
    servers on 127.0.0.1 are outside it)."""
    try:
        pg, redis = PrivatePostgres(), PrivateRedis()
    except Unavailable as exc:
        pytest.skip(str(exc))
    pg.init()
    pg.start()
    redis.start()
    try:
        yield pg, redis
    finally:
        redis.stop()
        pg.remove()


def new_database(pg: PrivatePostgres) -> str:
    import asyncpg

    name = f"vn_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(f"{pg.url}/postgres", timeout=10)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
    return f"{pg.url}/{name}"


@pytest.fixture(name="cluster")
def namespace_cluster(
    private_servers: tuple[PrivatePostgres, PrivateRedis], tmp_path: Path
) -> Iterator[Cluster]:
    """test_scaleout's two daemons (one database, one Redis), inside the module's namespace."""
    pg, redis = private_servers
    common = {
        "VIDEONET_JWT_SECRET": uuid.uuid4().hex * 2,
        "VIDEONET_CLUSTER_NAME": f"vn{uuid.uuid4().hex[:10]}",
        "VIDEONET_NODE_HEARTBEAT_INTERVAL": "1",
        "VIDEONET_TRUST_PROXY": "1",
    }
    args = ("--database-url", new_database(pg), "--redis-url", redis.url)
    a = start_daemon(tmp_path / "a", *args, **common)
    b = start_daemon(tmp_path / "b", *args, **common)
    try:
        yield Cluster(a, b)
    finally:
        for d in (a, b):
            d.stop()


@contextlib.contextmanager
def media_daemon(data_dir: Path, **env: str) -> Iterator[tuple[netns.Netns, Daemon]]:
    """A namespace entered for the block, and a daemon (SQLite) inside it."""
    skip_unless_namespaces()
    with netns.namespace() as ns:
        d = start_daemon(data_dir, **env)
        try:
            yield ns, d
        finally:
            d.stop()


@dataclass
class SfuWorld:
    ns: netns.Netns
    janus: janus_server.Janus
    daemon: Daemon


@contextlib.contextmanager
def sfu_world(root: Path, **env: str) -> Iterator[SfuWorld]:
    """A namespace, Janus in it (ICE on the namespace's address) and a daemon driving it."""
    skip_unless_namespaces()
    reason = janus_server.unavailable()
    if reason is not None:
        pytest.skip(reason)
    with netns.namespace() as ns:
        janus = janus_server.start_janus(root / "janus", ns.address)
        try:
            d = start_daemon(root / "data", **janus.daemon_env(), **env)
            try:
                yield SfuWorld(ns, janus, d)
            finally:
                d.stop()
        finally:
            janus.stop()
