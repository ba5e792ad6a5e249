"""Janus (Debian's `janus`) as a plain child process, from a configuration written per test.

The packaged janus.service is never used: it listens on every interface with a default admin
secret. Here the configuration lives in a temporary directory: the HTTP API on 127.0.0.1 at a
free port, token auth with a secret of the test's own (signed tokens), only the VideoRoom plugin
and the HTTP transport, ICE on the address given (a veth end inside the test's namespace).
`start_janus` returns once /janus/info answers; `stop` ends it; `restart` starts it again on the
same ports (the daemon keeps its URL).
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
STARTUP_SECONDS = 20.0


def unavailable() -> str | None:
    """Why Janus cannot run here (for a skip), or None."""
    if shutil.which("janus") is None:
        return "Janus is not installed (apt-get install janus janus-tools: `make test-packages`)"
    if not (JANUS_LIB / "plugins" / "libjanus_videoroom.so").exists():
        return f"the Janus VideoRoom plugin is not in {JANUS_LIB}/plugins"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Janus:
    directory: Path
    port: int
    admin_port: int
    token_secret: str
    admin_key: str  # the VideoRoom plugin's admin_key: needed to create rooms
    admin_secret: str  # the Admin API's secret
    ice_address: str
    record_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/admin"

    @property
    def log(self) -> Path:
        return self.directory / "janus.log"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        cmd = ["janus", "-C", str(self.directory / "janus.jcfg"), "-F", str(self.directory), "-o"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited at start: {self.log.read_text()[-2000:]}")
            if self.answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"janus did not answer in time: {self.log.read_text()[-2000:]}")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/info", timeout=2) as response:
                info = json.loads(response.read())
        except OSError:
            return False
        return "janus.plugin.videoroom" in info.get("plugins", {})

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def daemon_env(self) -> dict[str, str]:
        """What the daemon needs to use this Janus (environment variables)."""
        return {
            "VIDEONET_MEDIA_SERVER_URL": self.url,
            "VIDEONET_MEDIA_SERVER_TOKEN_SECRET": self.token_secret,
            "VIDEONET_MEDIA_SERVER_ADMIN_KEY": self.admin_key,
            "VIDEONET_MEDIA_SERVER_ADMIN_URL": self.admin_url,
            "VIDEONET_MEDIA_SERVER_ADMIN_SECRET": self.admin_secret,
        }


_OTHER_PLUGINS = ",".join(
    f"libjanus_{name}.so"
    for name in ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip",
                 "streaming", "textroom", "videocall", "voicemail")
)  # fmt: skip
_OTHER_TRANSPORTS = ",".join(
    f"libjanus_{name}.so" for name in ("mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets")
)


def _write_config(j: Janus) -> None:
    d = j.directory
    (d / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{d}"
    plugins_folder = "{JANUS_LIB}/plugins"
    transports_folder = "{JANUS_LIB}/transports"
    events_folder = "{JANUS_LIB}/events"
    loggers_folder = "{JANUS_LIB}/loggers"
    debug_level = 4
    token_auth = true
    token_auth_secret = "{j.token_secret}"
    admin_secret = "{j.admin_secret}"
    session_timeout = 60
    recordings_tmp_ext = "tmp"
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{j.ice_address}"
    ignore_mdns = true
}}
plugins: {{
    disable = "{_OTHER_PLUGINS}"
}}
transports: {{
    disable = "{_OTHER_TRANSPORTS}"
}}
events: {{
    broadcast = false
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
"""
    )
    (d / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    ip = "127.0.0.1"
    port = {j.port}
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_ip = "127.0.0.1"
    admin_port = {j.admin_port}
    admin_https = false
}}
cors: {{
    allow_origin = "*"
}}
"""
    )
    (d / "janus.plugin.videoroom.jcfg").write_text(
        f"""general: {{
    admin_key = "{j.admin_key}"
    string_ids = true
    lock_rtp_forward = true
    events = false
}}
"""
    )


def start_janus(directory: Path, ice_address: str) -> Janus:
    """Write a configuration into ``directory`` and start Janus on it."""
    directory.mkdir(parents=True, exist_ok=True)
    record_dir = directory / "recordings"
    record_dir.mkdir(exist_ok=True)
    j = Janus(
        directory=directory,
        port=free_port(),
        admin_port=free_port(),
        token_secret=secrets.token_urlsafe(24),
        admin_key=secrets.token_urlsafe(24),
        admin_secret=secrets.token_urlsafe(24),
        ice_address=ice_address,
        record_dir=record_dir,
    )
    _write_config(j)
    j.start()
    return j


class RawJanus:
    """A bare HTTP client for tests that talk to Janus directly, as a stranger might."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self.session = 0
        self.handle = 0

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        message = {**body, "transaction": secrets.token_hex(6)}
        if self.token is not None:
            message["token"] = self.token
        request = urllib.request.Request(
            self.url + path, data=json.dumps(message).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, object] = json.loads(response.read())
        return answer

    def attach(self) -> dict[str, object]:
        """Create a session and attach a VideoRoom handle; Janus's answer to the first failing
        step, or to the attach."""
        created = self.post("", {"janus": "create"})
        if created.get("janus") != "success":
            return created
        self.session = int(created["data"]["id"])  # type: ignore[index]
        attached = self.post(f"/{self.session}", {"janus": "attach", "plugin": PLUGIN})
        if attached.get("janus") == "success":
            self.handle = int(attached["data"]["id"])  # type: ignore[index]
        return attached

    def join(self, body: dict[str, object], timeout: float = 10) -> dict[str, object]:
        """A VideoRoom request: the plugin's data in its answer (asynchronous ones such as
        join: in the event that follows on the long poll)."""
        sent = self.post(f"/{self.session}/{self.handle}", {"janus": "message", "body": body})
        if sent.get("janus") == "success":  # a synchronous request: the answer is here
            return dict(sent.get("plugindata", {}).get("data", {}))  # type: ignore[attr-defined]
        if sent.get("janus") != "ack":
            return sent
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            url = f"{self.url}/{self.session}?maxev=1"
            if self.token is not None:
                url += "&token=" + urllib.parse.quote(self.token)
            with urllib.request.urlopen(url, timeout=40) as response:
                event = json.loads(response.read())
            data = event.get("plugindata", {}).get("data", {})
            if data:
                return dict(data)
        raise AssertionError("no answer from the VideoRoom")


PLUGIN = "janus.plugin.videoroom"
