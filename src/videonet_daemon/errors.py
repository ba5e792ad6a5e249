"""The daemon's errors, and the one middleware that turns any failure into the JSON error shape.

Hierarchy (each maps to one HTTP status and one protocol.ErrorCode)::

    ApiError (500 internal_error)
    ├── BadRequest (400 bad_request)
    │   ├── InvalidJson (400 invalid_json)
    │   ├── ValidationError (400 validation_error)
    │   │   └── InvalidText (400 invalid_text)
    │   └── InvalidInvite (400 invalid_invite)
    ├── Unauthenticated (401 unauthenticated)
    │   └── InvalidCredentials (401 invalid_credentials)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── Conflict (409 conflict)
    │   ├── NotJoined (409 not_joined)
    │   └── TransferStateError (409 transfer_state)
    ├── PayloadTooLarge (413 payload_too_large)
    │   └── TextTooLong (413 text_too_long)
    ├── TooManyTransfers (429 too_many_transfers)
    ├── InsufficientStorage (507 insufficient_storage)
    └── RateLimited (429 rate_limited, with Retry-After)

Handlers raise these; nothing else builds an error response.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from videonet_daemon.metrics import METRICS
from videonet_daemon.protocol import ErrorCode, ErrorResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Something went wrong inside the daemon."""

    status: int = 500
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "error").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    """The request is not valid."""

    status = 400
    code = ErrorCode.BAD_REQUEST


class InvalidJson(BadRequest):
    """The request body must be a JSON object."""

    code = ErrorCode.INVALID_JSON


class ValidationError(BadRequest):
    """A field is missing or has a wrong value."""

    code = ErrorCode.VALIDATION


class InvalidInvite(BadRequest):
    """The invite code is unknown, used up or expired."""

    code = ErrorCode.INVALID_INVITE


class Unauthenticated(ApiError):
    """Authentication required: log in first."""

    status = 401
    code = ErrorCode.UNAUTHENTICATED


class InvalidCredentials(Unauthenticated):
    """Wrong email or password."""

    code = ErrorCode.INVALID_CREDENTIALS


class Forbidden(ApiError):
    """You are not allowed to do that."""

    status = 403
    code = ErrorCode.FORBIDDEN


class NotFound(ApiError):
    """Not found."""

    status = 404
    code = ErrorCode.NOT_FOUND


class Conflict(ApiError):
    """That conflicts with something that already exists."""

    status = 409
    code = ErrorCode.CONFLICT


class NotJoined(Conflict):
    """Join the room first (room:join)."""

    code = ErrorCode.NOT_JOINED


class PayloadTooLarge(ApiError):
    """The request body is too large."""

    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class TransferStateError(Conflict):
    """The transfer is not in a state that allows this."""

    code = ErrorCode.TRANSFER_STATE


class TooManyTransfers(ApiError):
    """You have too many unfinished transfers; finish or abort one first."""

    status = 429
    code = ErrorCode.TOO_MANY_TRANSFERS


class InsufficientStorage(ApiError):
    """The daemon does not have enough free disk space for this transfer."""

    status = 507
    code = ErrorCode.INSUFFICIENT_STORAGE


class InvalidText(ValidationError):
    """The text contains control characters (only newline and tab are allowed)."""

    code = ErrorCode.INVALID_TEXT


class TextTooLong(PayloadTooLarge):
    """The text is too long."""

    code = ErrorCode.TEXT_TOO_LONG


class RateLimited(ApiError):
    """Too many attempts; try again later."""

    status = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


_HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body: ErrorResponse = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every exception into ``{"error": {"code", "message"}}`` with the right status."""
    try:
        return await handler(request)
    except ApiError as exc:
        _count(request, exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.headers())
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, ErrorCode.PAYLOAD_TOO_LARGE, "the request body is too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, ErrorCode.BAD_REQUEST)
        return error_response(exc.status, code, exc.reason)
    except Exception:
        _count(request, ErrorCode.INTERNAL)
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, ErrorCode.INTERNAL, "internal error; see the daemon's log")


def _count(request: web.Request, code: str) -> None:
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.errors.labels(code=code).inc()
