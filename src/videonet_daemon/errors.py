"""The daemon's errors, and the one middleware that turns any failure into the JSON error shape.

Hierarchy (every class; each has one protocol.ErrorCode, and `HTTP_STATUS` gives its status)::

    ApiError (500 internal_error)
    ├── BadRequest (400 bad_request)
    │   ├── InvalidJson (400 invalid_json)
    │   ├── ValidationError (400 validation_error)
    │   │   └── InvalidText (400 invalid_text)
    │   ├── InvalidInvite (400 invalid_invite)
    │   └── UnknownEvent (400 unknown_event: a Socket.IO event the daemon does not answer)
    ├── Unauthenticated (401 unauthenticated)
    │   └── InvalidCredentials (401 invalid_credentials)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── Conflict (409 conflict)
    │   ├── NotJoined (409 not_joined)
    │   │   └── NotInCall (409 not_joined)
    │   └── TransferStateError (409 transfer_state)
    ├── PayloadTooLarge (413 payload_too_large)
    │   └── TextTooLong (413 text_too_long)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── TooManyTransfers (429 too_many_transfers)
    ├── RateLimited (429 rate_limited, with Retry-After)
    ├── InsufficientStorage (507 insufficient_storage)
    ├── RangeNotSatisfiable (416 range_not_satisfiable, with Content-Range)
    ├── Unavailable (503 unavailable: the database or redis is down)
    └── OwnerUnreachable (503 internal_error: the one status not taken from the table)

Handlers raise these; nothing else builds an error response. Over HTTP the middleware below
sends ``{"error": {...}}`` with the status; over Socket.IO the hub's wrapper puts the same body
in a refused ack (there is no status there).

A message is an English template marked with N_ and its fields (``NotFound(N_("no room with id
{room_id}"), room_id=...)``); those two places translate it into the person's language
(videonet_daemon.i18n) and fill the fields after. The ``code`` is never translated; ``message``
(and ``str(exc)``) is the English line, for the daemon's log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from videonet_daemon import i18n
from videonet_daemon.i18n import N_
from videonet_protocol.protocol import ErrorCode, ErrorResponse

if TYPE_CHECKING:
    # The web side is imported where an answer is made: the offline commands (`invite create`,
    # `users`, `check`) raise these errors too and never answer HTTP; aiohttp is a fifth of
    # their start (docs/performance.md, "The suite").
    from aiohttp import web
    from aiohttp.typedefs import Middleware

    from videonet_daemon.metrics import Metrics

log = logging.getLogger(__name__)


# The HTTP status of each error code: the one table on the daemon's side. Where codes share a
# status, the general one comes first (an aiohttp HTTPException is reported with that code).
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.VALIDATION: 400,
    ErrorCode.INVALID_TEXT: 400,
    ErrorCode.INVALID_INVITE: 400,
    ErrorCode.UNKNOWN_EVENT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.NOT_JOINED: 409,
    ErrorCode.TRANSFER_STATE: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.TEXT_TOO_LONG: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_TRANSFERS: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.INSUFFICIENT_STORAGE: 507,
    ErrorCode.RANGE_NOT_SATISFIABLE: 416,
    ErrorCode.UNAVAILABLE: 503,
}
# A foreign error text longer than this is replaced by the status's reason phrase.
ERROR_MESSAGE_MAX_CHARS = 200
_CODE_OF_STATUS: dict[int, ErrorCode] = {}
for _code, _status in HTTP_STATUS.items():
    _CODE_OF_STATUS.setdefault(_status, _code)


class ApiError(Exception):
    """Something went wrong inside the daemon."""

    default_message = N_("Something went wrong inside the daemon.")

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str | None = None, /, **params: object) -> None:
        # `message` is an English template marked with N_ (its `{fields}` are `params`): the
        # person's language is known only where the error is answered (`localized`).
        self.template = message or self.default_message
        self.params = params
        super().__init__(i18n.fill(self.template, params))  # str(exc): the English line

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def message(self) -> str:
        """The English message: log lines and the operator's tools read this one."""
        return i18n.fill(self.template, self.params)

    def localized(self, language: str) -> str:
        """The message in ``language`` (a person reads it: the HTTP body, a socket's refusal)."""
        return i18n.translate(self.template, language, self.params)

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    """The request is not valid."""

    default_message = N_("The request is not valid.")

    code = ErrorCode.BAD_REQUEST


class InvalidJson(BadRequest):
    """The request body must be a JSON object."""

    default_message = N_("The request body must be a JSON object.")

    code = ErrorCode.INVALID_JSON


class ValidationError(BadRequest):
    """A field is missing or has a wrong value."""

    default_message = N_("A field is missing or has a wrong value.")

    code = ErrorCode.VALIDATION


class InvalidInvite(BadRequest):
    """The invite code is unknown, used up or expired."""

    default_message = N_("The invite code is unknown, used up or expired.")

    code = ErrorCode.INVALID_INVITE


class UnknownEvent(BadRequest):
    """The daemon does not know this Socket.IO event."""

    default_message = N_("The daemon does not know this Socket.IO event.")

    code = ErrorCode.UNKNOWN_EVENT


class Unauthenticated(ApiError):
    """Authentication required: log in first."""

    default_message = N_("Authentication required: log in first.")

    code = ErrorCode.UNAUTHENTICATED


class InvalidCredentials(Unauthenticated):
    """Wrong email or password."""

    default_message = N_("Wrong email or password.")

    code = ErrorCode.INVALID_CREDENTIALS


class Forbidden(ApiError):
    """You are not allowed to do that."""

    default_message = N_("You are not allowed to do that.")

    code = ErrorCode.FORBIDDEN


class NotFound(ApiError):
    """Not found."""

    default_message = N_("Not found.")

    code = ErrorCode.NOT_FOUND


class Conflict(ApiError):
    """That conflicts with something that already exists."""

    default_message = N_("That conflicts with something that already exists.")

    code = ErrorCode.CONFLICT


class NotJoined(Conflict):
    """Join the room first (room:join)."""

    default_message = N_("Join the room first (room:join).")

    code = ErrorCode.NOT_JOINED


class PayloadTooLarge(ApiError):
    """The request body is too large."""

    default_message = N_("The request body is too large.")

    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(ApiError):
    """Send the request body as JSON (Content-Type: application/json)."""

    default_message = N_("Send the request body as JSON (Content-Type: application/json).")

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class NotInCall(NotJoined):
    """Join the call first (call:join)."""

    default_message = N_("Join the call first (call:join).")


class TransferStateError(Conflict):
    """The transfer is not in a state that allows this."""

    default_message = N_("The transfer is not in a state that allows this.")

    code = ErrorCode.TRANSFER_STATE


class TooManyTransfers(ApiError):
    """You have too many unfinished transfers; finish or abort one first."""

    default_message = N_("You have too many unfinished transfers; finish or abort one first.")

    code = ErrorCode.TOO_MANY_TRANSFERS


class InsufficientStorage(ApiError):
    """The daemon does not have enough free disk space for this transfer."""

    default_message = N_("The daemon does not have enough free disk space for this transfer.")

    code = ErrorCode.INSUFFICIENT_STORAGE


class InvalidText(ValidationError):
    """The text contains control characters (only newline and tab are allowed)."""

    default_message = N_("The text contains control characters (only newline and tab are allowed).")

    code = ErrorCode.INVALID_TEXT


class TextTooLong(PayloadTooLarge):
    """The text is too long."""

    default_message = N_("The text is too long.")

    code = ErrorCode.TEXT_TOO_LONG


class RateLimited(ApiError):
    """Too many attempts; try again later."""

    default_message = N_("Too many attempts; try again later.")

    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: float, message: str | None = None, **params: object) -> None:
        super().__init__(message, **params)
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RangeNotSatisfiable(ApiError):
    """The requested range starts at or after the end of the file."""

    default_message = N_("The requested range starts at or after the end of the file.")

    code = ErrorCode.RANGE_NOT_SATISFIABLE

    def __init__(self, size: int) -> None:
        super().__init__(
            N_("the range starts beyond the last byte (the file has {size} bytes)"), size=size
        )
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class Unavailable(ApiError):
    """A service the daemon depends on is unavailable; try again later."""

    default_message = N_("A service the daemon depends on is unavailable; try again later.")

    code = ErrorCode.UNAVAILABLE

    def __init__(self, dependency: str) -> None:
        super().__init__(N_("{dependency} unavailable; try again later"), dependency=dependency)
        self.dependency = dependency

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}

    def localized(self, language: str) -> str:
        # The dependency's name is one of outages.py's words, marked there.
        dependency = i18n.translate(self.dependency, language)
        return i18n.translate(self.template, language, {"dependency": dependency})


class OwnerUnreachable(ApiError):
    """The daemon that holds this transfer cannot be reached; try again later."""

    default_message = N_("The daemon that holds this transfer cannot be reached; try again later.")

    code = ErrorCode.INTERNAL

    @property
    def status(self) -> int:
        # 503, not the table's 500: the failure is another daemon's and passes (clients and
        # proxies retry a 503). The code stays internal_error, as clients already know it.
        return 503


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    from aiohttp import web

    body: ErrorResponse = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def error_middleware(
    metrics: Metrics, outage_of: Callable[[BaseException], ApiError | None] = lambda exc: None
) -> Middleware:
    """The middleware that turns every exception into ``{"error": {"code", "message"}}``.

    `outage_of` tells a dependency's outage (503) from a bug (500). It also rewrites the
    plain-text error answers that aiohttp and engine.io make themselves
    (unknown path, wrong method, a bad Socket.IO request), so every error has the one shape.
    """
    from aiohttp import web

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as exc:
            metrics.errors.labels(code=exc.code).inc()
            return _answer(request, exc.status, exc)
        except web.HTTPRequestEntityTooLarge:
            return _answer(request, 413, PayloadTooLarge(N_("the request body is too large")))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _CODE_OF_STATUS.get(exc.status, ErrorCode.BAD_REQUEST)
            message = i18n.translate(exc.reason, i18n.request_language(request))
            return error_response(exc.status, code, message, _kept_headers(exc.headers))
        except Exception as exc:
            outage = outage_of(exc)
            if outage is not None:  # a dependency is down: 503, one log line, no traceback
                metrics.errors.labels(code=outage.code).inc()
                log.warning("%s %s failed: %s", request.method, request.path, outage.message)
                return _answer(request, outage.status, outage)
            metrics.errors.labels(code=ErrorCode.INTERNAL).inc()
            log.exception("unhandled error in %s %s", request.method, request.path)
            return _answer(request, 500, ApiError(INTERNAL_MESSAGE))
        return _json_error(response, request)

    return errors


def _answer(request: web.Request, status: int, exc: ApiError) -> web.Response:
    """The one place an error reaches a person over HTTP: in the request's language."""
    message = exc.localized(i18n.request_language(request))
    return error_response(status, exc.code, message, exc.headers())


INTERNAL_MESSAGE = N_("internal error; see the daemon's log")
# The reason phrases aiohttp answers with itself (a wrong path or method, a bad request), so
# that they are in the catalogue too.
REASONS = (
    N_("Bad Request"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Request Entity Too Large"),
    N_("Unsupported Media Type"),
    N_("Forbidden"),
    N_("Unauthorized"),
    N_("Internal Server Error"),
    N_("Service Unavailable"),
)


# Headers that describe the old body; the rest (Allow, Retry-After, Content-Range) stay.
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}


def _json_error(response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
    """A returned (not raised) error answer in another shape, as the JSON error shape."""
    from aiohttp import web

    if (
        response.status < 400
        or response.prepared
        or not isinstance(response, web.Response)
        or response.content_type == "application/json"
    ):
        return response
    body = response.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
    language = i18n.request_language(request)
    return foreign_error(response.status, text, response.reason, response.headers, language)


def foreign_error(
    status: int,
    text: str,
    reason: str,
    headers: Mapping[str, str] | None = None,
    language: str = "en",
) -> web.Response:
    """An error answer that aiohttp or engine.io wrote (``text``), in the JSON error shape: its
    text as the message when it is one short printable line, else the reason phrase (in
    ``language`` when the catalogue has it)."""
    message = text.strip().strip('"') or reason
    if len(message) > ERROR_MESSAGE_MAX_CHARS or not message.isprintable():
        message = reason
    code = _CODE_OF_STATUS.get(status, ErrorCode.BAD_REQUEST)
    message = i18n.translate(message, language)
    return error_response(status, code, message, _kept_headers(headers or {}))
