"""The daemon starts on port 0, prints its address and a bootstrap invite, and answers health."""

from __future__ import annotations

from conftest import Daemon, http


def test_health_and_bootstrap(daemon: Daemon) -> None:
    status, body, _ = http("GET", daemon.api("/api/health"))
    assert status == 200
    assert body["status"] == "ok" and body["protocol"] == 1
    assert (
        any("bootstrap invite" in line for line in daemon.stdout_lines)
        or (daemon.data_dir / "bootstrap-invite").exists()
    )
