"""POST /api/video/verify: the seed's server-side comparison of two uploaded files.

multipart/form-data with `original_file` and `received_file`; each part is hashed as it streams
in (never held in memory or written to disk) and capped at `verify_max_bytes`. A body that
stops arriving for `stall_seconds` (the transfers' stall timeout) is refused, as an upload's is:
before, a client that stopped sending held its connection and handler for good.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from videonet_daemon.auth.request_auth import RequestAuth
from videonet_daemon.errors import BadRequest, PayloadTooLarge
from videonet_daemon.i18n import N_
from videonet_protocol import protocol

T = TypeVar("T")
READ_BYTES = 1 << 20
FIELDS = ("original_file", "received_file")


class VerifyRoutes:
    def __init__(self, who: RequestAuth, max_bytes: int, stall_seconds: float) -> None:
        self._who = who
        self._max_bytes = max_bytes
        self._stall_seconds = stall_seconds

    async def _in_time(self, step: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(step, self._stall_seconds)
        except TimeoutError:
            raise BadRequest(
                N_("nothing of the body arrived for {stall_seconds} s; send it again"),
                stall_seconds=format(self._stall_seconds, "g"),
            ) from None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(protocol.API_VERIFY, self.verify),
        ]

    async def verify(self, request: web.Request) -> web.Response:
        await self._who.require_user(request)
        limit = self._max_bytes
        if not request.content_type.startswith("multipart/"):
            raise BadRequest(N_("send multipart/form-data with original_file and received_file"))
        try:
            reader = await self._in_time(request.multipart())
        except (ValueError, AssertionError) as exc:
            raise BadRequest(N_("malformed multipart body")) from exc
        try:
            results = await self._hash_parts(reader, limit)
        except (ValueError, AssertionError, EOFError, HttpProcessingError) as exc:
            # aiohttp's multipart reader says "Reading after EOF" (ValueError) when the body
            # ends before its closing boundary, and raises InvalidHeader for a bad part header.
            raise BadRequest(N_("malformed multipart body")) from exc
        missing = [f for f in FIELDS if f not in results]
        if missing:
            raise BadRequest(N_("missing field(s): {names}"), names=", ".join(missing))
        original, received = results["original_file"], results["received_file"]
        match = original["sha256"] == received["sha256"] and original["size"] == received["size"]
        return web.json_response({"match": match, "original": original, "received": received})

    async def _hash_parts(
        self, reader: MultipartReader, limit: int
    ) -> dict[str, dict[str, object]]:
        results: dict[str, dict[str, object]] = {}
        while True:
            part = await self._in_time(reader.next())
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise BadRequest(N_("nested multipart is not supported"))
            if part.name not in FIELDS:
                raise BadRequest(N_("unexpected field {name}"), name=repr(part.name))
            if part.name in results:
                raise BadRequest(N_("field {name} given twice"), name=repr(part.name))
            digest = hashlib.sha256()
            size = 0
            while chunk := await self._in_time(part.read_chunk(READ_BYTES)):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(N_("each file may be at most {limit} bytes"), limit=limit)
                digest.update(chunk)
            results[part.name] = {
                "filename": part.filename,
                "size": size,
                "sha256": digest.hexdigest(),
            }
        return results
