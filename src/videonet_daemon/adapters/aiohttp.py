"""aiohttp's internals, used here and nowhere else.

aiohttp answers a request it cannot parse (a bad header, a bad request line) itself, before any
middleware, with its `RequestHandler`; it has no option for that class. `runner_with_handler`
makes an `AppRunner` whose server makes connections with a handler class of ours: it overrides
`AppRunner._make_server` and gives the server it made a subclass (`server.__class__`) that only
changes `__call__`, which reads the server's `_loop` and `_kwargs`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from videonet_protocol.adapters.check import attribute_problems, method_problems

DISTRIBUTION = "aiohttp"


def runner_with_handler(
    app: web.Application, handler: type[RequestHandler], **kwargs: Any
) -> web.AppRunner:
    """An `AppRunner` for `app` whose connections are handled by `handler`."""

    class _Server(web.Server):
        def __call__(self) -> RequestHandler:
            return handler(self, loop=self._loop, **self._kwargs)

    class _Runner(web.AppRunner):
        async def _make_server(self) -> web.Server:
            server = await super()._make_server()
            server.__class__ = _Server
            return server

    return _Runner(app, **kwargs)


def problems() -> list[str]:
    """What of the above no longer holds in the installed aiohttp (empty: all holds)."""
    found = method_problems(DISTRIBUTION, web.AppRunner, "_make_server", (), kind="async")
    found += method_problems(DISTRIBUTION, web.Server, "__call__", ())
    loop = asyncio.new_event_loop()
    try:

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            return web.Response()

        server = web.Server(handle, loop=loop, request_factory=None)
        found += attribute_problems(DISTRIBUTION, server, "_loop", asyncio.AbstractEventLoop)
        found += attribute_problems(DISTRIBUTION, server, "_kwargs", dict)
    finally:
        loop.close()
    return found
