"""What a user may give as the daemon's address, checked before anything is sent.

A daemon URL is ``http://`` or ``https://``, a host, an optional port and nothing else: the
client builds every path itself, so a path would be silently dropped (or, in aiohttp, raise).
Plain ``http://`` carries the password and the token in clear, so it is accepted only for a
loopback host unless the user asked for it (``--insecure`` or ``insecure = true`` in the config).
Without a scheme, a loopback host gets ``http://`` and any other host ``https://``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from videonet_cli.errors import UsageError

SCHEMES = ("http", "https")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (traffic to it never leaves it)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_server(text: str, *, allow_insecure: bool = False) -> str:
    """The daemon URL in its one spelling (``scheme://host[:port]``), or a UsageError saying why.

    >>> validate_server("127.0.0.1:7701")
    'http://127.0.0.1:7701'
    """
    raw = text.strip()
    if not raw:
        raise UsageError("--server: empty URL (expected https://HOST[:PORT])")
    if "://" not in raw:
        try:
            bare_host = urlsplit("//" + raw).hostname or ""
        except ValueError:
            bare_host = ""
        raw = ("http://" if is_loopback(bare_host) else "https://") + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--server: {text!r} is not a URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(
            f"--server: unsupported scheme {scheme}:// in {text!r} (use http or https)"
        )
    host = parts.hostname
    if not host:
        raise UsageError(f"--server: no host in {text!r} (expected {scheme}://HOST[:PORT])")
    if parts.username or parts.password:
        raise UsageError(f"--server: {text!r} holds a user name or password; give only the host")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(
            f"--server: {text!r} has a path; give only the daemon's address, "
            f"like {scheme}://{parts.netloc}"
        )
    if scheme == "http" and not allow_insecure and not is_loopback(host):
        raise UsageError(
            f"--server: refusing plain http to {host}: your password and token would cross the "
            f"network unencrypted; use https://{parts.netloc}, or pass --insecure "
            "(or `videonet config set insecure true`) if this network is trusted"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"
