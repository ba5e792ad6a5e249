"""Where the CLI keeps its configuration and credentials, and how it picks the server and token.

Precedence, highest first: command-line option, environment variable, saved config, default.
Credentials are stored per server URL in ``credentials.json`` with mode 0600. The settable keys
(``videonet config get|set|list``) are in `CONFIG_KEYS`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videonet_cli.i18n import ENV_LANG
from videonet_protocol import protocol
from videonet_protocol.i18n import LANGUAGES, N_

ENV_CONFIG_DIR = "VIDEONET_CONFIG_DIR"
ENV_DATA_DIR = "VIDEONET_DATA_DIR"
ENV_SERVER = "VIDEONET_SERVER"
ENV_TOKEN = "VIDEONET_TOKEN"
ENV_PASSWORD = "VIDEONET_PASSWORD"
ENV_DEBUG = "VIDEONET_DEBUG"
ENV_INSECURE = "VIDEONET_INSECURE"
ENV_OUTPUT = "VIDEONET_OUTPUT"
ENV_KEY_WAIT = "VIDEONET_KEY_WAIT"
# `receive`: seconds a downloading receiver waits for an interrupted sender to resume.
ENV_RESUME_WAIT = "VIDEONET_RESUME_WAIT"
ENV_TRUST_NEW = "VIDEONET_TRUST_NEW"
ENV_CODE = "VIDEONET_CODE"
ENV_RECOVERY_KEY = "VIDEONET_RECOVERY_KEY"
ENV_RECOVERY_KEY_FILE = "VIDEONET_RECOVERY_KEY_FILE"

# The CLI's environment, declared once: docs/settings.md shows this table (`markdown_table`, a
# test keeps the two equal; English, as the docs are); the analysis settings are in
# videonet_cli.analysis.settings. Marked with N_ for wherever the CLI shows them: `_(text)`.
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    (ENV_SERVER, N_("Daemon URL (same as `videonet --server URL`).")),
    (ENV_TOKEN, N_("Token to use instead of the one saved by `videonet login` (for CI).")),
    (ENV_PASSWORD, N_("Password for `login`/`register` when no prompt is possible.")),
    (
        ENV_CONFIG_DIR,
        N_(
            "Where the CLI keeps `config.json` and `credentials.json` (default: the platform's "
            "user config dir, e.g. `~/.config/videonet`)."
        ),
    ),
    (
        ENV_DATA_DIR,
        N_(
            "Where the CLI keeps this device's keys and identity (`identity/`), pins, chat history "
            "and analyses (default: the platform's user data dir, e.g. `~/.local/share/videonet`)."
        ),
    ),
    (ENV_DEBUG, N_("`1` shows tracebacks instead of one-line errors (both commands).")),
    (
        ENV_INSECURE,
        N_("`1` allows plain `http://` to a host that is not this machine (`--insecure`)."),
    ),
    (
        ENV_OUTPUT,
        N_("`json` makes `--json` the default of every command (`config set output json`)."),
    ),
    (
        ENV_KEY_WAIT,
        N_(
            "`receive`: seconds to wait for the sender's running `send` to wrap the file key for a "
            "device that appeared after the offer (default 15)."
        ),
    ),
    (
        ENV_TRUST_NEW,
        N_(
            "`1`: `send` (and a call's recording) accepts identities seen for the first time, as "
            "`--trust-new` does; a changed identity still stops the send."
        ),
    ),
    (
        ENV_RESUME_WAIT,
        N_(
            "Seconds a downloading `receive` waits for a sender that stopped half-way to resume "
            "(default 600)."
        ),
    ),
    (ENV_CODE, N_("`send --code` / `receive --code` with no value: the code (kept out of `ps`).")),
    (
        ENV_RECOVERY_KEY,
        N_("The recovery key: restores your identity on a new device (CI runners)."),
    ),
    (ENV_RECOVERY_KEY_FILE, N_("The same, read from this file.")),
    (
        ENV_LANG,
        N_(
            "The language the CLI speaks: `en`, `ko` or `ja` (before `config set language` and "
            "`LC_ALL`/`LC_MESSAGES`/`LANG`; anything else is English). `--json` never changes."
        ),
    ),
)


def markdown_table() -> str:
    """The CLI environment table of docs/settings.md."""
    rows = [f"| `{name}` | {help_text} |" for name, help_text in ENVIRONMENT]
    return "\n".join(["| Variable | Meaning |", "|---|---|", *rows])


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


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")
OUTPUT_FORMATS = ("human", "json")


@dataclass(frozen=True)
class ConfigKey:
    """One key of ``config.json``: its help line (English: `_(help)` shows it), its choices (if
    it has some) and its default."""

    help: str
    default: str
    choices: tuple[str, ...] = ()


CONFIG_KEYS: dict[str, ConfigKey] = {
    "server": ConfigKey(N_("The daemon URL used without --server."), protocol.DEFAULT_SERVER_URL),
    "room": ConfigKey(N_("The room chat, receive and call use when ROOM is left out."), ""),
    "output": ConfigKey(
        N_("human: tables and lines; json: as if --json was given."), "human", OUTPUT_FORMATS
    ),
    "insecure": ConfigKey(
        N_("true: allow plain http:// to a host that is not this machine."),
        "false",
        ("true", "false"),
    ),
    "language": ConfigKey(
        N_("en, ko or ja: the language the CLI speaks (VIDEONET_LANG overrides it)."),
        "",
        LANGUAGES,
    ),
}


def saved_language() -> str | None:
    """``language`` from config.json, for `videonet_cli.i18n.settle` (read before typer is
    imported, so plain JSON and no validation: a bad value is English, as an unknown locale)."""
    value = read_config().get("language")
    return value if isinstance(value, str) else None


def read_config() -> dict[str, Any]:
    return _read_json(config_dir() / CONFIG_FILE)


def config_value(key: str) -> str:
    """The saved value of ``key``, or its default."""
    value = read_config().get(key)
    return str(value) if isinstance(value, str) and value else CONFIG_KEYS[key].default


def require_key(key: str) -> None:
    """UsageError unless ``key`` is one of `CONFIG_KEYS`."""
    from videonet_cli.errors import UsageError
    from videonet_cli.i18n import _

    if key not in CONFIG_KEYS:
        raise UsageError(
            _("unknown config key {key} (known: {keys})").format(
                key=repr(key), keys=", ".join(CONFIG_KEYS)
            )
        )


def check_config_value(key: str, value: str) -> str:
    """``value`` in its saved spelling; UsageError for an unknown key or a bad value."""
    from videonet_cli.errors import UsageError
    from videonet_cli.i18n import _

    require_key(key)
    spec = CONFIG_KEYS[key]
    if key == "insecure":
        word = value.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise UsageError(
                _("{key}: {value} is not true or false").format(key=key, value=repr(value))
            )
        return "true" if word in TRUE_WORDS else "false"
    if key == "server":
        from videonet_cli.server_url import validate_server

        return validate_server(value, allow_insecure=insecure_allowed())
    if spec.choices and value not in spec.choices:
        raise UsageError(
            _("{key}: {value} is not one of {choices}").format(
                key=key, value=repr(value), choices=", ".join(spec.choices)
            )
        )
    return value.strip()


def set_config_value(key: str, value: str) -> str:
    """Validate and save ``key``; returns the saved spelling."""
    saved = check_config_value(key, value)
    path = config_dir() / CONFIG_FILE
    data = _read_json(path)
    data[key] = saved
    write_private_json(path, data)
    return saved


def unset_config_value(key: str) -> bool:
    path = config_dir() / CONFIG_FILE
    data = _read_json(path)
    if key not in data:
        return False
    del data[key]
    write_private_json(path, data)
    return True


def insecure_allowed(option: bool = False) -> bool:
    """Plain http to a remote host: ``--insecure``, VIDEONET_INSECURE, or the saved config."""
    if option:
        return True
    env = os.environ.get(ENV_INSECURE)
    if env is not None:
        return env.strip().lower() in TRUE_WORDS
    return config_value("insecure") == "true"


def json_by_default() -> bool:
    """``output = json`` (or VIDEONET_OUTPUT=json): every command behaves as with --json."""
    env = os.environ.get(ENV_OUTPUT)
    if env:
        return env.strip().lower() == "json"
    return config_value("output") == "json"


def seconds_from_env(name: str, default: float) -> float:
    """A positive number of seconds from the environment variable ``name``, else ``default``."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def resolve_server(option: str | None, *, insecure: bool = False) -> str:
    """The daemon URL: ``--server``/VIDEONET_SERVER, then saved config, then the default."""
    from videonet_cli.server_url import validate_server

    allow = insecure_allowed(insecure)
    if option:
        return validate_server(option, allow_insecure=allow)
    saved = read_config().get("server")
    if isinstance(saved, str) and saved:
        return validate_server(saved, allow_insecure=allow)
    return protocol.DEFAULT_SERVER_URL


def save_server(url: str) -> None:
    """Remember the server a login or registration succeeded with (like gh's hosts)."""
    path = config_dir() / CONFIG_FILE
    data = _read_json(path)
    if data.get("server") != url:
        data["server"] = url
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
