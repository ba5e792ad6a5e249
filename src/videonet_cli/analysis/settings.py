"""Analysis settings, declared once: a name, a default, an environment variable and help text.

Precedence: a command-line option, then the environment variable, then the default. The table in
docs/analysis.md is checked against ``SETTINGS`` by a test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from videonet_cli.config import config_dir, data_dir
from videonet_cli.errors import UsageError
from videonet_cli.i18n import _

if TYPE_CHECKING:  # imaging imports OpenCV: the extras are checked after reading the settings
    from videonet_cli.analysis.imaging import Detail


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("api_key", "OPENAI_API_KEY", "", "API key for the model endpoint."),
    Setting(
        "base_url",
        "OPENAI_BASE_URL",
        "",
        "OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp); empty means api.openai.com.",
    ),
    Setting(
        "model", "VIDEONET_ANALYZE_MODEL", "gpt-4o-mini", "Vision model for analysis and chat."
    ),
    Setting("detail", "VIDEONET_ANALYZE_DETAIL", "low", "Image detail sent: low or high."),
    Setting("frames", "VIDEONET_ANALYZE_FRAMES", "10", "How many frames to analyse."),
    Setting("sampling", "VIDEONET_ANALYZE_SAMPLING", "uniform", "Frame choice: uniform or shots."),
    Setting(
        "concurrency", "VIDEONET_ANALYZE_CONCURRENCY", "10", "Model requests in flight at once."
    ),
    Setting(
        "jpeg_quality", "VIDEONET_JPEG_QUALITY", "60", "JPEG quality of the frames sent (1-100)."
    ),
    Setting("max_tokens", "VIDEONET_FRAME_MAX_TOKENS", "300", "max_tokens of each frame request."),
    Setting(
        "chat_max_tokens", "VIDEONET_CHAT_MAX_TOKENS", "500", "max_tokens of each chat answer."
    ),
    Setting(
        "context_budget",
        "VIDEONET_CHAT_CONTEXT_TOKENS",
        "16000",
        "Token budget of one chat request; the oldest turns are dropped to fit.",
    ),
    Setting("timeout", "VIDEONET_MODEL_TIMEOUT", "60", "Seconds to wait for one model response."),
    Setting("max_retries", "VIDEONET_MODEL_RETRIES", "3", "Retries (with backoff) on 429, 5xx."),
    Setting(
        "prices",
        "VIDEONET_PRICES",
        "",
        "JSON price table overriding the built-in one (default: `prices.json` in the config dir).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# VIDEONET_-prefixed aliases win over the OpenAI variables, so videonet can point at a local
# server without changing what other tools on the machine use.
ALIASES = {"api_key": "VIDEONET_OPENAI_API_KEY", "base_url": "VIDEONET_OPENAI_BASE_URL"}


def raw(name: str) -> str:
    """The value of one setting from the environment, or its default."""
    setting = _BY_NAME[name]
    alias = ALIASES.get(name)
    if alias and os.environ.get(alias):
        return os.environ[alias].strip()
    value = os.environ.get(setting.env)
    return value.strip() if value is not None and value.strip() else setting.default


def integer(name: str, lo: int, hi: int) -> int:
    """An integer setting, checked against a range (a bad value is a usage error)."""
    text = raw(name)
    try:
        value = int(text)
    except ValueError:
        raise UsageError(
            _("{name} must be an integer, not {value}").format(
                name=_BY_NAME[name].env, value=repr(text)
            )
        ) from None
    if not lo <= value <= hi:
        raise UsageError(
            _("{name} must be between {lo} and {hi}, not {value}").format(
                name=_BY_NAME[name].env, lo=lo, hi=hi, value=value
            )
        )
    return value


def number(name: str) -> float:
    text = raw(name)
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            _("{name} must be a number, not {value}").format(
                name=_BY_NAME[name].env, value=repr(text)
            )
        ) from None
    if value <= 0:
        raise UsageError(
            _("{name} must be positive, not {value}").format(name=_BY_NAME[name].env, value=text)
        )
    return value


@dataclass(frozen=True)
class Endpoint:
    """Where the model lives. ``None`` from :func:`endpoint` means: run offline."""

    api_key: str
    base_url: str | None


def endpoint() -> Endpoint | None:
    """The configured model endpoint, or None when there is neither a key nor a base URL."""
    key, base = raw("api_key"), raw("base_url")
    if not key and not base:
        return None
    # Local servers (Ollama, llama.cpp) ignore the key, but the SDK insists on one.
    return Endpoint(api_key=key or "not-needed", base_url=base or None)


def price_file() -> Path:
    override = raw("prices")
    return Path(override).expanduser() if override else config_dir() / "prices.json"


def store_path() -> Path:
    """The SQLite file holding cached analyses and conversations."""
    from videonet_cli.analysis.store import STORE_FILE

    return data_dir() / STORE_FILE


def markdown_table() -> str:
    """The settings as the Markdown table in docs/analysis.md (a test keeps the two equal)."""
    lines = ["| Environment variable | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(none)"
        alias = f" (or `{ALIASES[s.name]}`, which wins)" if s.name in ALIASES else ""
        lines.append(f"| `{s.env}`{alias} | {default} | {s.help} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class ModelConfig:
    model: str
    detail: Detail
    max_tokens: int
    base_url: str | None
    timeout_s: float
    max_retries: int

    @property
    def where(self) -> str:
        return self.base_url or DEFAULT_BASE_URL
