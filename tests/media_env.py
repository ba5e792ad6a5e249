"""Where media tests run: a network namespace of their own (tests/netns.py), with the daemon (and
Janus, for calls through the SFU) started inside it.

Use `media_daemon` for a module-scoped daemon in a namespace (mesh calls), `sfu_world` for a
namespace with Janus and a daemon that drives it. Both skip, saying why, where no namespace can
be made (not root) or Janus is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import janus_server
import netns

from conftest import Daemon, start_daemon


def skip_unless_namespaces() -> None:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(reason)


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
