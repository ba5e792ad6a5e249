"""The shipped deployment files work: nginx (TLS, WebSocket upgrade, streamed transfers) in
front of two daemons, and the systemd unit's command line.

nginx comes from the system packages; the test installs it when it is missing (as root), and
is skipped, saying why, only if that is impossible here.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_operations import self_signed
from test_scaleout import Cluster, cluster  # noqa: F401  (fixture)
from transfer_helpers import listening_receiver, member, random_file

from conftest import BIN, Cli, base_env

pytestmark = pytest.mark.one_pass(
    "its databases do not follow the pass: the cluster is on PostgreSQL, the unit on SQLite"
)

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"


def ensure_nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("nginx is not installed and there is no apt-get to install it")
    env = {**base_env(), "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"could not install nginx: {done.stderr.strip()[-300:]}")
    return shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site_config(upstreams: list[str], port: int, cert: Path, key: Path) -> str:
    """The shipped site, with this test's ports and certificate (nothing else changed)."""
    text = (DEPLOY / "nginx-videonet.conf").read_text()
    # Each daemon of this run in place of the shipped ones, with the shipped parameters.
    params = re.findall(r"\n    server 127\.0\.0\.1:770\d([^;]*);", text)[0]
    text = re.sub(r"\n    server 127\.0\.0\.1:770\d[^;]*;", "", text)
    servers = "".join(f"\n    server {u}{params};" for u in upstreams)
    text = text.replace("hash $remote_addr consistent;", "hash $remote_addr consistent;" + servers)
    # Drop the port-80 redirect server and the IPv6 listens; listen on a free loopback port.
    text = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", text, flags=re.S)
    text = text.replace("    listen [::]:443 ssl;\n", "")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    text = re.sub(r"ssl_certificate .*;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", text)
    return text


@contextlib.contextmanager
def serve_site(upstreams: list[str], tmp_path: Path) -> Iterator[str]:
    """nginx with the shipped site in front of `upstreams` (host:port); its https URL. The
    certificate is tmp_path/cert.pem."""
    binary = ensure_nginx()
    cert, key = self_signed(tmp_path)
    port = free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "site.conf").write_text(site_config(upstreams, port, cert, key))
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        "user root;\nworker_processes 1;\n"
        f"error_log {prefix / 'error.log'} warn;\npid {prefix / 'nginx.pid'};\n"
        "events { worker_connections 512; }\n"
        f"http {{\n    access_log off;\n{temp}    include {prefix / 'site.conf'};\n}}\n"
    )
    check = subprocess.run(
        [binary, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def nginx(cluster: Cluster, tmp_path: Path) -> Iterator[str]:  # noqa: F811
    upstreams = [d.url.removeprefix("http://") for d in (cluster.a, cluster.b)]
    with serve_site(upstreams, tmp_path) as url:
        yield url


def test_register_and_verified_transfer_through_nginx(
    nginx: str,
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert = tmp_path / "cert.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    # Register and log in through nginx with the real CLI.
    config = tmp_path / "cfg-dana"
    config.mkdir()
    dana = Cli(nginx, config)
    invite = cluster.a.mint_invite()
    r = dana(
        "register", "--email", "dana@example.test", "--username", "dana", "--invite", invite,
        "--password-stdin", input="correct horse battery\n",
    )  # fmt: skip
    assert r.code == 0, r.err
    r = dana(
        "login", "--email", "dana@example.test", "--password-stdin", input="correct horse battery"
    )
    assert r.code == 0, r.err
    r = dana("rooms", "create", "proxied", "--json")
    assert r.code == 0, r.err
    room = r.json()["id"]

    erin = member(cluster.b, tmp_path, room)
    erin.cli.daemon_url = nginx
    src = random_file(tmp_path / "via-nginx.bin", 8 << 20)
    rx = listening_receiver(erin.cli, room, tmp_path / "in")
    r = dana("send", room, str(src), "--timeout", "60", "--json")
    assert r.code == 0, r.err
    assert rx.finish() == 0, rx.stderr()
    assert (tmp_path / "in" / "via-nginx.bin").read_bytes() == src.read_bytes()

    # What nginx must not pass: /metrics, and JSON bodies over the limit.
    for path, expected in (("/metrics", 404), ("/api/auth/login", 413)):
        data = b"x" * 200_000 if expected == 413 else None
        try:
            urllib.request.urlopen(urllib.request.Request(nginx + path, data=data), timeout=10)
            raise AssertionError(f"{path} should fail")
        except urllib.error.HTTPError as exc:
            assert exc.code == expected, path


def test_systemd_unit_command_line_is_valid(tmp_path: Path) -> None:
    unit = (DEPLOY / "videonet@.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert exec_start is not None
    argv = exec_start.group(1).replace("%i", "0").split()
    argv[0] = str(BIN / "videonet-daemon")
    argv[argv.index("--data-dir") + 1] = str(tmp_path / "data")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=base_env())
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert any("listening on http://127.0.0.1:" in line for line in lines), lines
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "UMask=0077"):
        assert option in unit
