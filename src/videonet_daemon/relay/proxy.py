"""Transfer bytes between daemons: a request that lands on a daemon without the transfer's spool
is streamed to or from the daemon that has it (never through Redis).

The user's own credentials go along, so the owning daemon checks membership as usual; a header
marks proxied requests so that two daemons can never bounce one between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from videonet_daemon import protocol
from videonet_daemon.errors import ApiError

PROXIED_HEADER = "X-Videonet-Proxied"
READ_BYTES = 1 << 20
_FORWARDED_REQUEST = ("Authorization", "Cookie", "Range", "Content-Length", "Content-Type")
_FORWARDED_RESPONSE = ("Content-Type", "Content-Length", "Content-Range", "X-Transfer-Size")

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("proxy_session", aiohttp.ClientSession)


class OwnerUnreachable(ApiError):
    """The daemon that holds this transfer cannot be reached; try again later."""

    status = 503
    code = protocol.ErrorCode.INTERNAL


def _headers(request: web.Request) -> dict[str, str]:
    headers = {k: v for k in _FORWARDED_REQUEST if (v := request.headers.get(k)) is not None}
    headers[PROXIED_HEADER] = "1"
    return headers


async def forward_upload(request: web.Request, owner: str) -> web.StreamResponse:
    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.content.iter_chunked(READ_BYTES):
            yield chunk

    session = request.app[SESSION]
    try:
        async with session.put(
            owner + request.path_qs, data=body(), headers=_headers(request)
        ) as upstream:
            payload = await upstream.read()
            return web.Response(
                status=upstream.status,
                body=payload,
                content_type=upstream.content_type,
            )
    except aiohttp.ClientConnectorError as exc:
        raise OwnerUnreachable() from exc


async def forward_download(request: web.Request, owner: str) -> web.StreamResponse:
    session = request.app[SESSION]
    try:
        upstream = await session.get(owner + request.path_qs, headers=_headers(request))
    except aiohttp.ClientConnectorError as exc:
        raise OwnerUnreachable() from exc
    try:
        if upstream.status >= 400:
            return web.Response(
                status=upstream.status,
                body=await upstream.read(),
                content_type=upstream.content_type,
            )
        response = web.StreamResponse(status=upstream.status)
        for name in _FORWARDED_RESPONSE:
            if name in upstream.headers:
                response.headers[name] = upstream.headers[name]
        response.force_close()
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except aiohttp.ClientPayloadError:
            return response  # the owner's stream ended short: so does ours
        await response.write_eof()
        return response
    finally:
        upstream.release()
