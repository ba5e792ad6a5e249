"""Operations: /metrics, JSON logs, TLS served by the daemon itself."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from transfer_helpers import listening_receiver, make_room, member, random_file, sha256_of
from videonet_cli.crypto.stream import StreamLayout

from conftest import Daemon, daemon_command, http


def test_metrics_count_transfers_and_errors(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory()
    alice = member(d, tmp_path)
    room = make_room(d, alice)
    bob = member(d, tmp_path, room)
    src = random_file(tmp_path / "m.bin", 300_000)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    assert alice.cli("send", room, str(src), "--timeout", "60").code == 0
    assert rx.finish() == 0
    assert http("GET", d.api("/api/rooms/nope/members"), token=alice.user.token)[0] == 404
    with urllib.request.urlopen(d.api("/metrics"), timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    # The daemon counts what it relays: the encrypted stream (one record and its 16-byte tag).
    relayed = StreamLayout(300_000).ciphertext_size
    assert relayed == 300_016
    assert values["videonet_transfer_bytes_uploaded_total"] == relayed
    assert values["videonet_transfer_bytes_served_total"] == relayed
    assert values['videonet_transfers_total{outcome="verified"}'] == 1
    assert values['videonet_errors_total{code="not_found"}'] >= 1
    assert values["videonet_rooms"] == 1


def test_metrics_can_be_turned_off(daemon_factory: Any) -> None:
    d = daemon_factory(VIDEONET_METRICS="off")
    assert http("GET", d.api("/metrics"))[0] == 404


def test_json_logs(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory("--log-format", "json")
    d.stop()
    log = (d.data_dir.parent / f"{d.data_dir.name}.log").read_text().strip().splitlines()
    entries = [json.loads(line) for line in log]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any("shutting down" in e["message"] for e in entries)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_daemon_serves_tls(
    daemon_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # our test client and the CLI trust it
    d: Daemon = daemon_factory("--tls-cert", str(cert), "--tls-key", str(key))
    assert d.url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(d.api("/api/health"), context=context, timeout=10) as resp:
        assert json.loads(resp.read())["status"] == "ok"
    # The CLI trusts the certificate through the usual SSL_CERT_FILE.
    alice = member(d, tmp_path)
    r = alice.cli("rooms", "list", "--json")
    assert r.code == 0, r.err
    r = alice.cli("rooms", "list", SSL_CERT_FILE="/dev/null")
    assert r.code == 5 and "certificate" in r.err.lower()
    # A verified transfer over TLS: both ends' HTTP sessions and Socket.IO connections check the
    # certificate (aiohttp's default contexts read the CA bundle at their first connection).
    room = make_room(d, alice)
    bob = member(d, tmp_path, room)
    src = random_file(tmp_path / "tls.bin", 100_000)
    rx = listening_receiver(bob.cli, room, tmp_path / "in")
    assert alice.cli("send", room, str(src), "--timeout", "60").code == 0
    assert rx.finish() == 0
    assert sha256_of(tmp_path / "in" / "tls.bin") == sha256_of(src)


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    for args in (["--tls-cert", str(tmp_path / "missing.pem")], ["--log-format", "xml"]):
        r = daemon_command("serve", "--port", "0", *args, data_dir=tmp_path, timeout=30)
        assert r.returncode == 2 and r.stderr.startswith("Error: "), r.stderr
