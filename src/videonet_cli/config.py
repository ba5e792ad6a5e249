"""Where the CLI keeps its configuration and credentials, and how it picks the server and token.

Precedence, highest first: command-line option, environment variable, saved config, default.
Credentials are stored per server URL in ``credentials.json`` with mode 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videonet_daemon import protocol

ENV_CONFIG_DIR = "VIDEONET_CONFIG_DIR"
ENV_DATA_DIR = "VIDEONET_DATA_DIR"
ENV_SERVER = "VIDEONET_SERVER"
ENV_TOKEN = "VIDEONET_TOKEN"
ENV_PASSWORD = "VIDEONET_PASSWORD"
ENV_DEBUG = "VIDEONET_DEBUG"

CONFIG_FILE = "config.json"
CREDENTIALS_FILE = "credentials.json"


def config_dir() -> Path:
    """The user's config directory (``VIDEONET_CONFIG_DIR`` moves it)."""
    override = os.environ.get(ENV_CONFIG_DIR)
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("videonet", appauthor=False))


def data_dir() -> Path:
    """The user's data directory for caches and chat history (``VIDEONET_DATA_DIR`` moves it)."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("videonet", appauthor=False))


def debug_enabled() -> bool:
    return os.environ.get(ENV_DEBUG, "") not in ("", "0", "false", "no")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by the owner only (0600), atomically: a temp file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def normalize_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url


def resolve_server(option: str | None) -> str:
    """The daemon URL: ``--server``/VIDEONET_SERVER, then saved config, then the default."""
    if option:
        return normalize_server(option)
    saved = _read_json(config_dir() / CONFIG_FILE).get("server")
    if isinstance(saved, str) and saved:
        return normalize_server(saved)
    return protocol.DEFAULT_SERVER_URL


def save_server(url: str) -> None:
    path = config_dir() / CONFIG_FILE
    data = _read_json(path)
    data["server"] = normalize_server(url)
    write_private_json(path, data)


@dataclass(frozen=True)
class StoredLogin:
    token: str
    username: str
    email: str


def load_login(server: str) -> StoredLogin | None:
    entry = _read_json(config_dir() / CREDENTIALS_FILE).get(server)
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    return StoredLogin(
        token=entry["token"],
        username=str(entry.get("username", "")),
        email=str(entry.get("email", "")),
    )


def save_login(server: str, login: StoredLogin) -> None:
    path = config_dir() / CREDENTIALS_FILE
    data = _read_json(path)
    data[server] = {"token": login.token, "username": login.username, "email": login.email}
    write_private_json(path, data)


def forget_login(server: str) -> bool:
    path = config_dir() / CREDENTIALS_FILE
    data = _read_json(path)
    if server not in data:
        return False
    del data[server]
    write_private_json(path, data)
    return True


def resolve_token(server: str) -> str | None:
    """VIDEONET_TOKEN wins (for CI); otherwise the token saved by ``videonet login``."""
    env = os.environ.get(ENV_TOKEN)
    if env:
        return env.strip()
    stored = load_login(server)
    return stored.token if stored else None
