"""A private network namespace for media tests: the test process enters it, and everything it
starts (the daemon, Janus, `videonet call`, Chromium) runs inside.

ICE never gathers loopback candidates (neither aiortc nor Janus nor Chromium), so media between
two processes on one machine goes to a real interface's address. Tests must not send it to the
machine's own network address: each namespace gets a veth pair with *both* ends inside it and
private addresses (10.231.N.1 and 10.231.N.2, N picked per namespace) that exist only there,
plus its own loopback for the daemon's HTTP. Nothing in the namespace can reach the outside
(no route, no link out), and nothing outside sees its addresses.

The calling thread enters the namespace with setns(2) (Python 3.11 has no os.setns: libc through
ctypes); threads and child processes started afterwards inherit it. Sockets opened before stay in
the namespace they were opened in. `namespace()` leaves it and deletes it on the way out.

Making one needs root and a working `ip netns`; `unavailable()` says why not, for a skip.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
SUBNET_PREFIX = "10.231"  # a private range the tests use only inside their own namespaces


@dataclass(frozen=True)
class Netns:
    name: str
    address: str  # the first veth end: where servers in the namespace announce media
    peer_address: str  # the other end


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


_checked: list[str | None] = []


def unavailable() -> str | None:
    """Why no namespace can be made here (for a skip), or None: it can."""
    if _checked:
        return _checked[0]
    reason: str | None = None
    if os.geteuid() != 0:
        reason = "media tests run in a network namespace, which needs root"
    elif shutil.which("ip") is None:
        reason = "media tests need `ip` (iproute2) to make a network namespace"
    else:
        name = f"vnprobe{secrets.token_hex(3)}"
        made = _run("ip", "netns", "add", name)
        if made.returncode != 0:
            reason = f"`ip netns add` failed: {made.stderr.strip()}"
        else:
            _run("ip", "netns", "del", name)
    _checked.append(reason)
    return reason


def _make(name: str, subnet: str) -> Netns:
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "-n", name, "link", "set", "lo", "up"],
        ["ip", "-n", name, "link", "add", "vn0", "type", "veth", "peer", "name", "vn1"],
        ["ip", "-n", name, "addr", "add", f"{subnet}.1/24", "dev", "vn0"],
        ["ip", "-n", name, "addr", "add", f"{subnet}.2/24", "dev", "vn1"],
        ["ip", "-n", name, "link", "set", "vn0", "up"],
        ["ip", "-n", name, "link", "set", "vn1", "up"],
    ]
    for step in steps:
        done = _run(*step)
        if done.returncode != 0:
            _run("ip", "netns", "del", name)
            raise RuntimeError(f"{' '.join(step)}: {done.stderr.strip()}")
    return Netns(name, f"{subnet}.1", f"{subnet}.2")


@contextlib.contextmanager
def namespace() -> Iterator[Netns]:
    """Make a namespace, enter it for the block, then leave and delete it."""
    suffix = secrets.token_hex(3)
    name = f"vntest{suffix}"
    subnet = f"{SUBNET_PREFIX}.{1 + secrets.randbelow(250)}"
    ns = _make(name, subnet)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        inside = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(inside)
        finally:
            os.close(inside)
        try:
            yield ns
        finally:
            _setns(home)
    finally:
        os.close(home)
        _run("ip", "netns", "del", name)
