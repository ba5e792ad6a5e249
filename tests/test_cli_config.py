"""The saved server and `videonet config`, --server anywhere, URL checks, unreachable hints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from videonet_cli.errors import UsageError
from videonet_cli.server_url import validate_server

from conftest import BIN, TEST_PASSWORD, CliResult, Daemon, base_env

pytestmark = pytest.mark.one_pass("terminal and client side: API tests cover the daemon")


def videonet(config_dir: Path, *args: str, input: str | None = None, **env: str) -> CliResult:
    """The CLI with only a config dir: no VIDEONET_SERVER, no token (a fresh shell)."""
    proc = subprocess.run(
        [str(BIN / "videonet"), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        env=base_env(VIDEONET_CONFIG_DIR=str(config_dir), **env),
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def one_error_line(r: CliResult) -> str:
    assert r.err.count("\n") == 1 and r.err.startswith("Error: "), r.err
    assert "Traceback" not in r.err and "Unclosed" not in r.err
    return r.err.strip()


def test_register_and_login_remember_the_server(daemon: Daemon, tmp_path: Path) -> None:
    """Registering saves the server and logs in: the next command needs no --server, and a
    later `videonet login` finds the server too."""
    r = videonet(
        tmp_path,
        "register",
        "--email",
        "dora@example.test",
        "--username",
        "dora",
        "--invite",
        daemon.shared_invite(),
        "--password-stdin",
        "--server",  # after the subcommand, as gh accepts it
        daemon.url,
        input=TEST_PASSWORD + "\n",
    )
    assert r.code == 0, r.err
    assert f"Logged in to {daemon.url} as dora" in r.out

    r = videonet(
        tmp_path, "login", "--email", "dora@example.test", "--password-stdin", input=TEST_PASSWORD
    )
    assert r.code == 0, r.err
    assert daemon.url in r.out
    r = videonet(tmp_path, "whoami", "--json")
    assert r.code == 0 and r.json()["username"] == "dora", r.err
    r = videonet(tmp_path, "config", "get", "server")
    assert r.out.strip() == daemon.url
    r = videonet(tmp_path, "logout", "--json")
    assert r.code == 0
    assert r.json() == {"server": daemon.url, "logged_out": True, "device_removed": True}


def test_config_get_set_list_unset(daemon: Daemon, tmp_path: Path) -> None:
    r = videonet(tmp_path, "config", "list", "--json")
    assert r.code == 0, r.err
    assert r.json() == {
        "server": "http://127.0.0.1:7701",
        "room": "",
        "output": "human",
        "insecure": "false",
        "language": "",
    }
    port = daemon.url.rsplit(":", 1)[1]
    r = videonet(tmp_path, "config", "set", "server", f"127.0.0.1:{port}")
    assert r.code == 0 and r.out.strip() == f"server = {daemon.url}", r.err
    assert videonet(tmp_path, "config", "set", "output", "json").code == 0
    user = daemon.make_user(tmp_path)
    # output = json: every command prints JSON without --json.
    r = videonet(tmp_path, "whoami", VIDEONET_TOKEN=user.token)
    assert r.code == 0 and r.json()["username"] == user.username, r.err
    r = videonet(tmp_path, "config", "list")
    assert json.loads(r.out)["output"] == "json"
    assert videonet(tmp_path, "config", "unset", "output").code == 0
    r = videonet(tmp_path, "config", "list")
    assert "server" in r.out and "saved" in r.out and "default" in r.out

    r = videonet(tmp_path, "config", "set", "colour", "red")
    assert r.code == 2
    assert one_error_line(r) == (
        "Error: unknown config key 'colour' (known: server, room, output, insecure, language)"
    )
    r = videonet(tmp_path, "config", "set", "output", "yaml")
    assert r.code == 2 and one_error_line(r) == "Error: output: 'yaml' is not one of human, json"
    r = videonet(tmp_path, "config", "set", "server", "http://10.0.0.7:7701")
    assert r.code == 2 and "refusing plain http to 10.0.0.7" in one_error_line(r)
    assert videonet(tmp_path, "config", "set", "insecure", "yes").code == 0
    r = videonet(tmp_path, "config", "set", "server", "http://10.0.0.7:7701")
    assert r.code == 0 and r.out.strip() == "server = http://10.0.0.7:7701"


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            "http://127.0.0.1:7701/api",
            "Error: --server: 'http://127.0.0.1:7701/api' has a path; give only the daemon's "
            "address, like http://127.0.0.1:7701",
        ),
        (
            "ftp://127.0.0.1",
            "Error: --server: unsupported scheme ftp:// in 'ftp://127.0.0.1' (use http or https)",
        ),
        (
            "http://:7701",
            "Error: --server: no host in 'http://:7701' (expected http://HOST[:PORT])",
        ),
        (
            "videonet.example.org:80x",
            "Error: --server: 'videonet.example.org:80x' is not a URL "
            "(Port could not be cast to integer value as '80x')",
        ),
        (
            "http://videonet.example.org",
            "Error: --server: refusing plain http to videonet.example.org: your password and "
            "token would cross the network unencrypted; use https://videonet.example.org, or pass "
            "--insecure (or `videonet config set insecure true`) if this network is trusted",
        ),
    ],
)
def test_bad_server_urls_are_usage_errors(tmp_path: Path, server: str, message: str) -> None:
    r = videonet(tmp_path, "whoami", "--server", server)
    assert r.code == 2
    assert one_error_line(r) == message


def test_url_spellings() -> None:
    assert validate_server("127.0.0.1:7701") == "http://127.0.0.1:7701"
    assert validate_server("localhost:7701/") == "http://localhost:7701"
    assert validate_server("[::1]:7701") == "http://[::1]:7701"
    assert validate_server("videonet.example.org") == "https://videonet.example.org"
    assert (
        validate_server("HTTPS://VideoNet.Example.org:8443/") == "https://videonet.example.org:8443"
    )
    assert (
        validate_server("http://192.168.1.20:7701", allow_insecure=True)
        == "http://192.168.1.20:7701"
    )
    with pytest.raises(UsageError):
        validate_server("http://192.168.1.20:7701")


def test_insecure_after_the_command_allows_plain_http(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never routed, so the attempt fails fast or times out;
    # .invalid never resolves. Either way it is "cannot reach", not a refusal.
    r = videonet(tmp_path, "whoami", "--server", "http://unreachable.invalid:7701", "--insecure")
    assert r.code == 5
    assert one_error_line(r).startswith(
        "Error: cannot reach the daemon at http://unreachable.invalid:7701 ("
    )


def test_wrong_port_says_cannot_reach_with_a_hint(tmp_path: Path) -> None:
    """Not logged in AND no daemon: the daemon is the problem to report, with what to do."""
    r = videonet(tmp_path, "whoami", "--server", "http://127.0.0.1:9")
    assert r.code == 5
    assert one_error_line(r) == (
        "Error: cannot reach the daemon at http://127.0.0.1:9 (Connection refused): start one "
        "with `videonet-daemon serve`, or point at one with --server URL"
    )
    r = videonet(tmp_path, "rooms", "list", VIDEONET_TOKEN="t", VIDEONET_SERVER="127.0.0.1:9")
    assert r.code == 5 and "videonet-daemon serve" in one_error_line(r)


@pytest.mark.parametrize(
    "args",
    [
        ("send", "room", "{file}"),
        ("receive", "room", "--yes", "--timeout", "1"),
        ("chat", "room", "--send", "hi"),
        ("chat", "room", "--follow"),
        ("call", "room", "--duration", "1"),
    ],
)
def test_daemon_down_is_one_line_without_session_noise(tmp_path: Path, args: Any) -> None:
    file = tmp_path / "f.bin"
    file.write_bytes(b"x" * 10)
    argv = [a.format(file=file) for a in args]
    r = videonet(tmp_path, *argv, VIDEONET_TOKEN="t", VIDEONET_SERVER="http://127.0.0.1:9")
    assert r.code == 5, r.err
    assert "cannot reach the daemon at http://127.0.0.1:9" in one_error_line(r)


def test_https_against_a_plain_daemon_says_use_http(daemon: Daemon, tmp_path: Path) -> None:
    https = daemon.url.replace("http://", "https://")
    r = videonet(tmp_path, "whoami", "--server", https)
    assert r.code == 5
    assert one_error_line(r) == (
        f"Error: cannot reach the daemon at {https}: it did not answer with TLS; if it serves "
        f"plain http, use --server {daemon.url} (and --insecure if it is not this machine)"
    )


def test_logged_in_elsewhere_is_not_logged_in_here(daemon: Daemon, tmp_path: Path) -> None:
    r = videonet(tmp_path, "whoami", "--server", daemon.url)
    assert r.code == 3
    assert one_error_line(r) == (
        f"Error: not logged in to {daemon.url}: run `videonet login` (or set VIDEONET_TOKEN)"
    )


def test_default_room_for_chat_and_receive(daemon: Daemon, tmp_path: Path) -> None:
    user = daemon.make_user(tmp_path)
    env = {"VIDEONET_TOKEN": user.token, "VIDEONET_SERVER": daemon.url}
    r = videonet(tmp_path, "chat", "--send", "hi", **env)
    assert r.code == 2
    assert one_error_line(r) == (
        "Error: no ROOM given and no default room: `videonet config set room NAME`"
    )
    room = videonet(tmp_path, "rooms", "create", "default-room-test", "--json", **env).json()
    assert videonet(tmp_path, "config", "set", "room", room["id"]).code == 0
    r = videonet(tmp_path, "chat", "--send", "hi", "--json", **env)
    assert r.code == 0, r.err
    assert r.json()["text"] == "hi" and r.json()["room_id"] == room["id"]
    r = videonet(
        tmp_path, "receive", "--yes", "--timeout", "1", "--json", "--out", str(tmp_path), **env
    )
    first = json.loads(r.out.splitlines()[0])
    assert first["event"] == "listening", r.err
    assert (first["room"], first["pending"]) == ("default-room-test", 0), r.err


def test_http_against_a_tls_daemon_says_use_https(daemon_factory: Any, tmp_path: Path) -> None:
    from test_operations import self_signed

    cert, key = self_signed(tmp_path)
    d: Daemon = daemon_factory("--tls-cert", str(cert), "--tls-key", str(key))
    plain = d.url.replace("https://", "http://")
    r = videonet(tmp_path, "whoami", "--server", plain, SSL_CERT_FILE=str(cert))
    assert r.code == 5
    assert one_error_line(r) == (
        f"Error: the daemon at {plain} closed the connection; if it serves HTTPS, "
        f"use --server {d.url}"
    )
