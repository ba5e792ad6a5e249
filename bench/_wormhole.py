"""The magic-wormhole reference: its relay path on loopback, in the benchmark's own environment.

magic-wormhole, its mailbox server and its transit relay are installed into a separate venv
(``bench/out/wormhole-venv`` unless told otherwise), never into the project's dependencies, so
that the reference cannot change what VideoNet runs with. Four processes take part:

* ``twist wormhole-mailbox`` and ``twist transitrelay`` on free loopback ports;
* ``wormhole receive --no-listen`` with a fixed code, started first;
* ``wormhole send --no-listen``, timed from its start to the exit of both ends.

``--no-listen`` on both ends stops either from offering a direct connection, so every byte goes
through the transit relay, the path a VideoNet transfer always takes through its daemon. The
received file's SHA-256 is computed after the timing, outside it.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import LOOPBACK, BenchError, Child, MiB, cpu_marks, cpu_since, free_port

PACKAGES = ("magic-wormhole", "magic-wormhole-mailbox-server", "magic-wormhole-transit-relay")
DEFAULT_VENV = Path(__file__).resolve().parent / "out" / "wormhole-venv"
CODE = "7-videonet-bench"
# The receiver must have claimed the code's nameplate before the sender's clock starts, as the
# VideoNet receiver is listening before its sender starts.
RECEIVER_SETTLE_SECONDS = 0.5


@dataclass
class WormholeRun:
    seconds: float
    receiver_sha256: str
    peak_rss: dict[str, int]
    cpu: dict[str, tuple[float, float]]


def ensure_venv(venv: Path) -> Path:
    """The venv's bin directory, creating the venv and installing the packages the first time."""
    bin_dir = venv / "bin"
    if (bin_dir / "wormhole").exists() and (bin_dir / "twist").exists():
        return bin_dir
    print(f"installing {', '.join(PACKAGES)} into {venv} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *PACKAGES],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return bin_dir


def version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "wormhole"), "--version"], capture_output=True, text=True, check=False
    )
    return (out.stdout or out.stderr).strip()


def _wait_listening(port: int, child: Child, deadline: float) -> None:
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.role} exited {child.tail()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{child.role}: not listening on {port} before the timeout")


def _established_to(port: int) -> int:
    """How many loopback TCP connections to ``port`` are established (from /proc/net/tcp)."""
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(digests: dict[str, str]) -> str:
    """One digest for a flat directory: over each file's name and SHA-256, sorted by name."""
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _received_sha256(out: Path) -> str:
    # A directory (wormhole sends one as a zip and unpacks it) is summed file by file.
    if out.is_dir():
        return tree_digest({p.name: sha256_of(p) for p in out.iterdir()})
    return sha256_of(out)


def measure(
    bin_dir: Path,
    path: Path,
    workdir: Path,
    timeout: float,
    together: bool = False,
    keep_output: bool = False,
) -> WormholeRun:
    """One send through the relay. The clock starts when the sender starts (the receiver is
    already waiting on the code), or with ``together`` when both start at once (start-up).
    With ``keep_output`` what was received stays in ``workdir`` (bench/many_files.py: KEPT)."""
    deadline = time.monotonic() + timeout
    run_dir = Path(tempfile.mkdtemp(prefix="wormhole-", dir=workdir))
    out = run_dir / "received.bin"
    mailbox_port, transit_port = free_port(), free_port()
    children: list[Child] = []
    try:
        mailbox = Child.start(
            "mailbox",
            [
                str(bin_dir / "twist"),
                "wormhole-mailbox",
                f"--port=tcp:{mailbox_port}:interface={LOOPBACK}",
                f"--channel-db={run_dir / 'relay.sqlite'}",
            ],
            run_dir,
        )
        children.append(mailbox)
        relay = Child.start(
            "relay",
            [
                str(bin_dir / "twist"),
                "transitrelay",
                f"--port=tcp:{transit_port}:interface={LOOPBACK}",
            ],
            run_dir,
        )
        children.append(relay)
        _wait_listening(mailbox_port, mailbox, deadline)
        _wait_listening(transit_port, relay, deadline)
        common = [
            str(bin_dir / "wormhole"),
            f"--relay-url=ws://{LOOPBACK}:{mailbox_port}/v1",
            f"--transit-helper=tcp:{LOOPBACK}:{transit_port}",
        ]
        before = _established_to(mailbox_port)
        marks = cpu_marks(children)
        started = time.perf_counter()
        receiver = Child.start(
            "receiver",
            [
                *common,
                "receive",
                "--no-listen",
                "--accept-file",
                "--hide-progress",
                f"--output-file={out}",
                CODE,
            ],
            run_dir,
        )
        children.append(receiver)
        while not together and _established_to(mailbox_port) <= before:
            if receiver.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"wormhole receiver did not connect {receiver.tail()}")
            time.sleep(0.02)
        if not together:
            time.sleep(RECEIVER_SETTLE_SECONDS)
            marks = cpu_marks(children)
            started = time.perf_counter()
        sender = Child.start(
            "sender",
            [
                *common,
                "send",
                "--no-listen",
                "--hide-progress",
                "--no-qr",
                f"--code={CODE}",
                str(path),
            ],
            run_dir,
        )
        children.append(sender)
        for child in (sender, receiver):
            if child.wait_exit(deadline) != 0:
                raise BenchError(f"wormhole: {child.role} failed {child.tail()}")
        ended = max(sender.ended or 0.0, receiver.ended or 0.0)
        relay.stop()
        mailbox.stop()
        return WormholeRun(
            seconds=ended - started,
            receiver_sha256=_received_sha256(out),
            peak_rss={c.role: c.peak_rss_bytes for c in (relay, sender, receiver)},
            cpu=cpu_since((relay, sender, receiver), marks),
        )
    finally:
        for child in children:
            child.kill()
        if not keep_output:
            if out.is_dir():
                shutil.rmtree(out, ignore_errors=True)
            out.unlink(missing_ok=True)
