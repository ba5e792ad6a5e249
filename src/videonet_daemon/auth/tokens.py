"""JWT access tokens (HS256 pinned) and the signing key kept in the data dir with mode 0600."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

from videonet_daemon.errors import Unauthenticated
from videonet_daemon.i18n import N_
from videonet_protocol import protocol

KEY_FILE = "jwt-secret"
KEY_BYTES = 48


def load_or_create_key(data_dir: Path, configured: str | None) -> bytes:
    """The signing key: VIDEONET_JWT_SECRET if set, else DATA_DIR/jwt-secret, made on first use."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key.encode("ascii")
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(KEY_BYTES)
    write_private_file(path, key + "\n")
    return key.encode("ascii")


def write_private_file(path: Path, content: str) -> None:
    """Create ``path`` readable by the owner only; never widen an existing file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: float


@dataclass(frozen=True)
class Claims:
    user_id: int
    jti: str
    expires_at: float


class TokenService:
    def __init__(self, key: bytes, lifetime: int) -> None:
        self._key = key
        self.lifetime = lifetime

    def issue(self, user_id: int) -> IssuedToken:
        now = int(time.time())
        jti = uuid.uuid4().hex
        exp = now + self.lifetime
        payload = {"sub": str(user_id), "iat": now, "exp": exp, "jti": jti}
        token = jwt.encode(payload, self._key, algorithm=protocol.JWT_ALGORITHM)
        return IssuedToken(token=token, jti=jti, expires_at=float(exp))

    def decode(self, token: str) -> Claims:
        """Claims of a valid token; anything else (forged, expired, alg none, no exp) is 401."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[protocol.JWT_ALGORITHM],
                options={"require": list(protocol.JWT_REQUIRED_CLAIMS)},
            )
            return Claims(
                user_id=int(payload["sub"]),
                jti=str(payload["jti"]),
                expires_at=float(payload["exp"]),
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated(N_("the token has expired: log in again")) from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise Unauthenticated(N_("invalid token")) from exc
