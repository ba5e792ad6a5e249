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
from videonet_cli.i18n import _

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
        raise UsageError(_("--server: empty URL (expected https://HOST[:PORT])"))
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
        raise UsageError(
            _("--server: {text} is not a URL ({error})").format(text=repr(text), error=exc)
        ) from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(
            _("--server: unsupported scheme {scheme}:// in {text} (use http or https)").format(
                scheme=scheme, text=repr(text)
            )
        )
    host = parts.hostname
    if not host:
        raise UsageError(
            _("--server: no host in {text} (expected {scheme}://HOST[:PORT])").format(
                text=repr(text), scheme=scheme
            )
        )
    if parts.username or parts.password:
        raise UsageError(
            _("--server: {text} holds a user name or password; give only the host").format(
                text=repr(text)
            )
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(
            _("--server: {text} has a path; give only the daemon's address, like {url}").format(
                text=repr(text), url=f"{scheme}://{parts.netloc}"
            )
        )
    if scheme == "http" and not allow_insecure and not is_loopback(host):
        raise UsageError(
            _(
                "--server: refusing plain http to {host}: your password and token would cross "
                "the network unencrypted; use {url}, or pass --insecure (or `videonet config "
                "set insecure true`) if this network is trusted"
            ).format(host=host, url=f"https://{parts.netloc}")
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"
