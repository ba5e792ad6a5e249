"""One HTTP client for the daemon: requests, error bodies mapped to CliError.

The typed endpoints are in `api.client`; this module knows nothing of paths. Every request
says the CLI's language (``Accept-Language``), so the daemon's error ``message`` is in it. The
connections are `api.wire`'s (h11 over asyncio streams).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from videonet_cli.api.wire import Body, ConnectError, Pool, Response
from videonet_cli.errors import AuthError, CliError, DaemonRefused, UnreachableError
from videonet_cli.i18n import _, current
from videonet_protocol import protocol

DEFAULT_TIMEOUT_SECONDS = 30.0
STREAM_STALL_SECONDS = 180.0
ERROR_BODY_MAX = 64 << 10  # an error's JSON body; a larger one is cut (it is still a refusal)


def language_headers() -> dict[str, str]:
    """The headers that ask the daemon to answer in the CLI's language."""
    return {"Accept-Language": current()}


class HttpClient:
    """Requests to one daemon, authenticated with a bearer token when one is given."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.server = server
        self.token = token
        # timeout=None is for streams: no total limit, but a stalled socket still fails.
        self._timeout = timeout
        self._stall = timeout if timeout is not None else STREAM_STALL_SECONDS
        self._pool: Pool | None = None

    async def __aenter__(self) -> Self:
        self.open()
        return self

    def open(self) -> None:
        """Make the connection pool (no connection is made before the first request)."""
        headers = language_headers()
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._pool = Pool(self.server, headers)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise RuntimeError("HttpClient used outside 'async with'")
        return self._pool

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
    ) -> AsyncIterator[Response]:
        """One request whose response body is read by the caller (closed after, if unread);
        connection failures are raised as they are (`unreachable` words them)."""
        response = await self.pool.request(method, path, params, headers, body, stall=self._stall)
        try:
            yield response
        finally:
            response.close()

    def require_token(self) -> str:
        if not self.token:
            raise AuthError()
        return self.token

    async def request(
        self,
        method: str,
        path: str,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body or raise the mapped CliError."""
        headers, body = None, None
        if json_body is not None:
            headers = {"Content-Type": "application/json"}
            body = json.dumps(json_body, separators=(",", ":")).encode()
        try:
            async with asyncio.timeout(self._timeout):
                async with self.stream(method, path, params, headers, body) as resp:
                    data = await resp.read()
                    status = resp.status
                    retry_after = resp.headers.get("retry-after")
        except (OSError, TimeoutError) as exc:
            raise self.unreachable(exc) from exc
        return decode_response(status, data, retry_after)

    def unreachable(self, exc: BaseException) -> UnreachableError:
        """The one-line error for a failed connection to the daemon."""
        return unreachable_error(self.server, exc)

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json_body: Mapping[str, Any] | None = None) -> Any:
        return await self.request("POST", path, json_body=json_body or {})


def _other_scheme(server: str) -> str:
    url = urlsplit(server)
    return urlunsplit(url._replace(scheme="https" if url.scheme == "http" else "http"))


def unreachable_error(server: str, exc: BaseException) -> UnreachableError:
    """One line naming the URL, what failed, and what to do about it."""
    from videonet_cli.server_url import is_loopback

    url = urlsplit(server)
    other = _other_scheme(server)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UnreachableError(
            _(
                "the daemon at {server} has a certificate this machine does not trust ({error})"
            ).format(server=server, error=exc.verify_message)
        )
    if isinstance(exc, ssl.SSLError):
        return UnreachableError(
            _(
                "cannot reach the daemon at {server}: it did not answer with TLS; if it serves "
                "plain http, use --server {other} (and --insecure if it is not this machine)"
            ).format(server=server, other=other)
        )
    err: OSError | None = None
    if isinstance(exc, ConnectError):
        err = exc.os_error
    elif isinstance(exc, (ConnectionRefusedError, socket.gaierror)):  # api/blocking's connect
        err = exc
    if err is not None:
        number = err.errno or 0
        # The system's own words for the failure (strerror), as every program says them.
        reason = os.strerror(number) if number > 0 else (err.strerror or str(err))
        if is_loopback(url.hostname or ""):
            message = _(
                "cannot reach the daemon at {server} ({reason}): start one with "
                "`videonet-daemon serve`, or point at one with --server URL"
            )
        else:
            message = _(
                "cannot reach the daemon at {server} ({reason}): check the address, or point "
                "at another with --server URL"
            )
        return UnreachableError(message.format(server=server, reason=reason))
    if isinstance(exc, TimeoutError):
        return UnreachableError(
            _("the daemon at {server} did not answer in time").format(server=server)
        )
    if url.scheme == "http" and isinstance(exc, ConnectionError):
        return UnreachableError(
            _(
                "the daemon at {server} closed the connection; if it serves HTTPS, "
                "use --server {other}"
            ).format(server=server, other=other)
        )
    return UnreachableError(
        _("connection to {server} failed: {error}").format(server=server, error=exc)
    )


def decode_response(status: int, body: bytes, retry_after: str | None = None) -> Any:
    """Decode a daemon response; non-2xx becomes a DaemonRefused carrying the daemon's error.

    A 429's ``Retry-After`` becomes the wait in the message: "try again in 42 s".
    """
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if 200 <= status < 300:
        return data
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        message = with_wait(str(err.get("message", "")), retry_after)
        raise DaemonRefused(str(err.get("code", "")), message, status)
    if status >= 500:
        raise CliError(_("the daemon failed (HTTP {status})").format(status=status))
    # A body without the error shape (a proxy in between, say): the status stands in for a code.
    code = _STATUS_CODES.get(status, protocol.ErrorCode.BAD_REQUEST)
    raise DaemonRefused(
        code, _("unexpected HTTP {status} from the daemon").format(status=status), status
    )


def with_wait(message: str, retry_after: str | None) -> str:
    """``message`` saying how long to wait, when the daemon said (in whole seconds).

    An English message's "try again later" becomes the wait; a translated one (the daemon
    answers in the CLI's language) gets the wait after it.
    """
    if not retry_after or not retry_after.strip().isdigit():
        return message
    wait = _("try again in {seconds} s").format(seconds=int(retry_after))
    stem = message.rstrip(". 。")
    if stem.endswith("try again later"):
        return stem.removesuffix("try again later") + wait
    return _("{message}; {wait}").format(message=stem, wait=wait) if stem else wait


_STATUS_CODES = {
    401: protocol.ErrorCode.UNAUTHENTICATED,
    403: protocol.ErrorCode.FORBIDDEN,
    404: protocol.ErrorCode.NOT_FOUND,
}
