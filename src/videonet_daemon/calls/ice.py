"""The ICE servers a call participant gets: STUN/TURN URLs, with TURN credentials minted per join.

TURN credentials follow the TURN REST API scheme that coturn's ``use-auth-secret`` checks:
``username = "<expiry epoch>:<user id>"`` and ``credential = base64(HMAC-SHA1(secret, username))``.
The TURN server needs no database of users; a leaked credential stops working at its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from videonet_daemon.settings import Settings, split_urls
from videonet_protocol import protocol


def turn_credential(secret: str, user_id: int, expires_at: int) -> tuple[str, str]:
    """(username, credential) for a TURN server sharing ``secret``, valid until ``expires_at``."""
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(
    settings: Settings, user_id: int, now: float
) -> tuple[list[protocol.IceServer], int | None]:
    """The ICE server list for one join, and when its TURN credentials expire (None: no TURN)."""
    servers: list[protocol.IceServer] = []
    stun = split_urls(settings.stun_urls)
    if stun:
        servers.append({"urls": stun})
    turn = split_urls(settings.turn_urls)
    if not turn or not settings.turn_secret:
        return servers, None
    expires_at = int(now) + settings.turn_credential_lifetime
    username, credential = turn_credential(settings.turn_secret, user_id, expires_at)
    servers.append({"urls": turn, "username": username, "credential": credential})
    return servers, expires_at
