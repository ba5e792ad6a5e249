"""The daemon's HTTP API as async Python calls (aiohttp), with errors mapped to CliError.

Imported only by commands that talk to the daemon, so ``videonet --version`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp

from videonet_cli.errors import ApiError, AuthError, CliError, UnreachableError
from videonet_daemon import protocol

DEFAULT_TIMEOUT_SECONDS = 30.0
STREAM_STALL_SECONDS = 180.0
STREAM_READ_BUFFER = 4 << 20


class ApiClient:
    """One HTTP session to one daemon, authenticated with a bearer token when one is given."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.server = server
        self.token = token
        # timeout=None is for streams: no total limit, but a stalled socket still fails.
        self._timeout = (
            aiohttp.ClientTimeout(total=timeout)
            if timeout is not None
            else aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=STREAM_STALL_SECONDS)
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._session = aiohttp.ClientSession(
            base_url=self.server,
            headers=headers,
            timeout=self._timeout,
            read_bufsize=STREAM_READ_BUFFER,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ApiClient used outside 'async with'")
        return self._session

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
        try:
            async with self.session.request(method, path, json=json_body, params=params) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.unreachable(exc) from exc
        return decode_response(status, body)

    def unreachable(self, exc: BaseException) -> UnreachableError:
        """The one-line error for a failed connection to the daemon."""
        if isinstance(exc, aiohttp.ClientConnectorError):
            return UnreachableError(
                f"cannot reach the daemon at {self.server} ({exc.strerror or exc})"
            )
        if isinstance(exc, TimeoutError):
            return UnreachableError(f"the daemon at {self.server} did not answer in time")
        return UnreachableError(f"connection to {self.server} failed: {exc}")

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json_body: Mapping[str, Any] | None = None) -> Any:
        return await self.request("POST", path, json_body=json_body or {})


def decode_response(status: int, body: bytes) -> Any:
    """Decode a daemon response; non-2xx becomes an ApiError carrying the daemon's message."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if 200 <= status < 300:
        return data
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        raise ApiError(status, str(err.get("code", "")), str(err.get("message", "")))
    if status >= 500:
        raise CliError(f"the daemon failed (HTTP {status})")
    raise ApiError(
        status, protocol.ErrorCode.BAD_REQUEST, f"unexpected HTTP {status} from the daemon"
    )
