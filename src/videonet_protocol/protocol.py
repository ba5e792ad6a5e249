"""The wire contract between the daemon and its clients.

This module is the single place that names API paths, Socket.IO events, limits, payload shapes
and error codes. The CLI imports it; nothing here is duplicated in either package. It uses the
standard library only, so a client can vendor it.

Every HTTP error has one JSON shape::

    {"error": {"code": "<ErrorCode value>", "message": "<one line for a person>"}}
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final, NotRequired, TypedDict
from urllib.parse import parse_qs, urlsplit


def N_(message: str) -> str:
    """Mark a message for the daemon's catalogue (the contract imports nothing of ours)."""
    return message


PROTOCOL_VERSION: Final = 1
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 7701
DEFAULT_SERVER_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"

# --- HTTP API paths -------------------------------------------------------------------------
API_HEALTH: Final = "/api/health"
API_METRICS: Final = "/metrics"
API_OPENAPI: Final = "/api/openapi.json"  # the OpenAPI 3.1 description of this REST API
WEB_INDEX: Final = "/"  # the web client's page
WEB_STATIC: Final = "/static/{name}"  # the web client's scripts, style sheet and icon
API_REGISTER: Final = "/api/auth/register"
API_LOGIN: Final = "/api/auth/login"
API_LOGOUT: Final = "/api/auth/logout"
API_ME: Final = "/api/auth/me"
# GET -> LanguageSetting; PUT LanguageSetting -> LanguageSetting: the language saved for the
# account (the web page's switch; error messages follow it). null: none saved, the browser's
# Accept-Language decides. Anything but null or one of i18n.LANGUAGES is a 400.
API_ME_LANGUAGE: Final = "/api/auth/me/language"
API_INVITES: Final = "/api/invites"
# POST {invite_code} (logged in) -> InvitedRoom: an account that exists already takes one use of
# an invite made for a room (`videonet join LINK` when logged in) and becomes a member of it.
API_INVITE_REDEEM: Final = "/api/invites/redeem"
API_ROOMS: Final = "/api/rooms"
API_ROOM_CREATE: Final = "/api/rooms/create"
API_ROOM_JOIN: Final = "/api/rooms/{room_id}/join"
API_ROOM_LEAVE: Final = "/api/rooms/{room_id}/leave"
API_ROOM_MEMBERS: Final = "/api/rooms/{room_id}/members"
# GET ?ref=NAME_OR_ID -> RoomInfo: one room the caller may see, by id or by name (compared under
# name folding); 404's message names close matches. Registered before API_ROOM.
API_ROOM_LOOKUP: Final = "/api/rooms/lookup"
API_ROOM: Final = "/api/rooms/{room_id}"  # GET -> RoomInfo; DELETE (creator) -> {room_id, deleted}
API_ROOM_RENAME: Final = "/api/rooms/{room_id}/rename"  # POST {name} (creator) -> RoomInfo
API_ROOM_INVITE: Final = "/api/rooms/{room_id}/invite"  # POST {username} (a member) -> MemberInfo
# POST DirectRoomRequest -> RoomInfo: the direct room of the caller and one other account, made on
# first use (201) or found (200); one per pair, holding only those two. Registered before API_ROOM.
API_ROOM_DIRECT: Final = "/api/rooms/direct"
# Where a command takes a ROOM, "@ben" is the direct room of you and ben; direct rooms are named
# "@ana @ben", and no other room's name may start with it.
DIRECT_ROOM_PREFIX: Final = "@"
# GET API_ROOMS takes ?limit=N&cursor=C&mine=1 and answers a RoomsPage, in name order.
ROOMS_PAGE_DEFAULT: Final = 100
ROOMS_PAGE_MAX: Final = 500

# --- Socket.IO ----------------------------------------------------------------------------------
SOCKET_PATH: Final = "socket.io"
# engine.io drops larger messages silently (and an ack never comes), so the cap is explicit.
SOCKET_MAX_MESSAGE_BYTES: Final = 1_000_000
# JSON bodies and event payloads nested deeper than this are refused (invalid_json).
JSON_MAX_DEPTH: Final = 32
# An unknown event's name is quoted back in the refusal up to this many characters.
EVENT_NAME_SHOWN_CHARS: Final = 64

# Client -> server events. Each is answered through the Socket.IO ack with an `Ack`.
EV_ROOM_JOIN: Final = "room:join"  # {room_id} -> Ack
EV_ROOM_LEAVE: Final = "room:leave"  # {room_id} -> Ack
# Server -> client events.
EV_ERROR: Final = "vn:error"  # ErrorBody, for events sent without an ack or refused outright
# ErrorBody (unauthenticated), just before the daemon closes a socket whose login session ended
# (logout on any daemon, or the token expired): log in again and reconnect.
EV_SESSION_ENDED: Final = "session:ended"


# Ids the daemon makes (room UUIDs, transfer hex ids, socket ids) are far shorter; a longer one
# in a request is refused before any lookup.
ROOM_ID_MAX_CHARS: Final = 64
TRANSFER_ID_MAX_CHARS: Final = 64
PEER_ID_MAX_CHARS: Final = 64


def room_channel(room_id: str) -> str:
    """The Socket.IO room name carrying one VideoNet room's events."""
    return f"room:{room_id}"


def user_channel(user_id: int) -> str:
    """The Socket.IO room every socket of one user is in, for events addressed to that user."""
    return f"user:{user_id}"


def code_channel(room_id: str, nameplate: str) -> str:
    """The Socket.IO room of the senders' sockets that answer seeks for one code number in one
    VideoNet room (`code:open`): a seek goes there, not to the room's other members."""
    return f"code:{room_id}:{nameplate}"


# --- File transfer --------------------------------------------------------------------------
# Control plane over Socket.IO (small JSON events), data plane over HTTP through the daemon's
# spool: the sender PUTs the bytes, each receiver GETs them (Range for resume) while they arrive.
API_TRANSFER_DATA: Final = "/api/transfers/{transfer_id}/data"  # PUT ?offset=N / GET + Range
API_VERIFY: Final = "/api/video/verify"  # multipart original_file + received_file (seed's API)

# Object storage (--spool-url s3://…): a transfer is stored as segment objects
# PREFIX/<transfer_id>/<index, 8 digits>, each SPOOL_SEGMENT_BYTES long but the last, so a reader
# on any daemon reads every segment that has landed while the upload runs. The default is eight
# end-to-end encrypted records (1 MiB of plaintext + a 16-byte tag), so a record never straddles
# two segments unless the operator picks another size.
ENCRYPTED_RECORD_BYTES: Final = (1 << 20) + 16
SPOOL_SEGMENT_BYTES_DEFAULT: Final = 8 * ENCRYPTED_RECORD_BYTES
SPOOL_SEGMENT_BYTES_MIN: Final = 1 << 20
SPOOL_SEGMENT_BYTES_MAX: Final = 256 << 20

# {room_id, declined?} -> Ack + {offers: [TransferOffer]}; declined: also offers this receiver
# declined before (`receive --overwrite` takes a file it once refused because it existed)
EV_TRANSFER_LISTEN: Final = "transfer:listen"
EV_TRANSFER_OFFER: Final = "transfer:offer"  # c->s OfferRequest -> Ack + OfferReply; s->c Offer
EV_TRANSFER_ACCEPT: Final = "transfer:accept"  # {transfer_id} -> Ack + {offer}; sender told
EV_TRANSFER_ACCEPTED: Final = "transfer:accepted"  # s->sender {transfer_id, user_id, username}
# {transfer_id, sha256, seal} -> Ack + SealReply: the upload finished; seal: base64 of the
# sender's signed per-file SHA-256s, sha256: batch_digest of them (the daemon's hint)
EV_TRANSFER_SEAL: Final = "transfer:seal"
# {transfer_id, sha256, mac, done?} -> Ack + VerdictReply; done: this receiver takes no more
# offers; mac: the receiver's HMAC of its verdict under a key only file-key holders derive
EV_TRANSFER_VERDICT: Final = "transfer:verdict"
EV_TRANSFER_DECLINE: Final = "transfer:decline"  # {transfer_id, reason, done?}: won't take it
EV_TRANSFER_RESULT: Final = "transfer:result"  # s->sender TransferResult, one per receiver
EV_TRANSFER_ABORT: Final = "transfer:abort"  # {transfer_id}: the sender gives up; spool deleted
EV_TRANSFER_STATE: Final = "transfer:state"  # s->room {transfer_id, state}

TRANSFER_NAME_MAX_BYTES: Final = 255
TRANSFER_REASON_MAX_CHARS: Final = 500  # a receiver's reason for declining
SHA256_HEX_CHARS: Final = 64


class TransferState(StrEnum):
    OFFERED = "offered"  # waiting for the sender's data request (new, or offered again to resume)
    UPLOADING = "uploading"  # bytes are arriving
    INTERRUPTED = "interrupted"  # the upload stopped early; the sender can resume it
    UPLOADED = "uploaded"  # every byte is spooled; waiting for the sender's hash
    SEALED = "sealed"  # complete, with the sender's SHA-256
    ABORTED = "aborted"  # given up; the spool is gone


# Not finished yet: a new offer of the same file resumes one of these.
TRANSFER_UNFINISHED: Final = (
    TransferState.OFFERED,
    TransferState.UPLOADING,
    TransferState.INTERRUPTED,
    TransferState.UPLOADED,
)


class ReceiptState(StrEnum):
    """What one receiver did with one transfer (kept per receiver in the database)."""

    ACCEPTED = "accepted"  # took the offer; downloading
    VERIFIED = "verified"  # its SHA-256 matched the sender's
    MISMATCH = "mismatch"  # its SHA-256 differed
    DECLINED = "declined"  # will not take it; not offered to this receiver again


# A receiver with one of these receipts is not offered the transfer again.
RECEIPT_FINAL: Final = (ReceiptState.VERIFIED, ReceiptState.DECLINED)


class TransferOffer(TypedDict):
    transfer_id: str
    room_id: str
    name: str
    size: int
    sender_id: int
    sender_name: str
    to_user_id: int | None
    state: str
    uploaded: int
    sha256: str | None
    created_at: str
    node_id: str | None  # the daemon whose spool holds the bytes
    batch_kind: str  # BatchKind (a hint: the signed header says what it is)
    file_count: int  # a hint, as above
    e2e: E2eInfo


class OfferReply(TypedDict):
    transfer: TransferOffer
    offset: int  # where the upload continues (0 for a new transfer)
    resumed: bool
    listeners: list[str]  # receivers listening in the room when the offer was made (names)
    # The same receivers by id: track them by id, since a display name is not an identity.
    listener_users: list[PresenceUser]


class VerdictReply(TypedDict):
    match: bool  # the daemon's comparison: a hint (the receiver checks the signed seal)
    expected: str
    seal: str | None  # base64 of the sender's signed seal


class SealReply(TypedDict):
    offer: TransferOffer
    available_until: str  # ISO time until which late receivers can still take it (retention)


class TransferResult(TypedDict):
    transfer_id: str
    user_id: int
    username: str
    ok: bool
    sha256: str
    reason: str
    mac: str  # the receiver's verdict MAC, relayed as it came ("" for a decline)


# --- Transfers: one road, a signed header ------------------------------------------------
# Every transfer is a manifest of one or more files (loose files, or a directory tree): one
# offer, one PUT of the files' bytes concatenated in manifest order, one GET per receiver. The
# manifest itself (paths, sizes, modes) travels only inside the sender's signed header
# (`OfferRequest.header`, videonet_cli/crypto/header.py), which the daemon stores as an opaque
# blob and hands to receivers (API_TRANSFER_HEADER); the offer's `name`, `kind` and
# `file_count` are hints for listing offers. The seal carries the sender's signed per-file
# SHA-256s (`seal`) and a hint `sha256` (`batch_digest` of them) the daemon compares verdicts to.
TRANSFER_PROTOCOL_VERSION: Final = 2  # offers without `version` == this are refused
API_TRANSFER_HEADER: Final = "/api/transfers/{transfer_id}/header"  # GET -> TransferHeader
TRANSFER_BATCH_MAX_FILES: Final = 10_000
TRANSFER_PATH_MAX_BYTES: Final = 1024  # a relative path in a manifest, "/" between components
TRANSFER_PATH_MAX_DEPTH: Final = 32  # components in one path
# The header (base64 in the offer) must fit in one Socket.IO message with the wrapped keys.
TRANSFER_HEADER_MAX_BYTES: Final = 640 << 10
TRANSFER_SEAL_MAX_BYTES: Final = 10 + TRANSFER_BATCH_MAX_FILES * 32 + 32 + 64 + 32
TRANSFER_ID_CHARS: Final = 32  # hex, chosen at random by the sender (it is in the header)


# The one line an offer or client of another transfer protocol gets (`transfer_version_error`).
TRANSFER_VERSION_ERROR: Final = N_(
    "transfer protocol {got} is not supported: this daemon speaks transfer protocol {speaks} "
    "(signed headers); update videonet"
)


def transfer_version_fields(got: object) -> dict[str, int]:
    """The fields of `TRANSFER_VERSION_ERROR` for a client that sent version ``got``."""
    return {"got": got if isinstance(got, int) else 1, "speaks": TRANSFER_PROTOCOL_VERSION}


def transfer_version_error(got: object) -> str:
    """The one line an offer or client of another transfer protocol gets (English)."""
    return TRANSFER_VERSION_ERROR.format(**transfer_version_fields(got))


class BatchKind(StrEnum):
    FILES = "files"  # loose files, each lands in the receiver's --out under its name
    DIRECTORY = "directory"  # a tree that lands as one directory named like the transfer


class ManifestEntry(TypedDict):
    path: str  # relative, "/"-separated; for FILES a plain name
    size: int


class TransferHeader(TypedDict):
    header: str  # base64 of the sender's signed header (opaque to the daemon)
    seal: str | None  # base64 of the sender's signed seal, once sealed


def batch_digest(file_digests: list[str]) -> str:
    """The SHA-256 standing for a whole batch: over each file's hex digest and a newline."""
    return hashlib.sha256("".join(d + "\n" for d in file_digests).encode("ascii")).hexdigest()


# --- End-to-end encryption of transfers -----------------------------------------------------
# The CLI encrypts every file it sends: a random file key per transfer, the bytes as STREAM
# records (E2E_RECORD_BYTES of plaintext + a 16-byte AES-256-GCM tag each), the file key
# wrapped with HPKE for each recipient device. The daemon stores and relays ciphertext and
# wrapped keys; it never sees a file key. An offer's `size` is then the ciphertext's size and
# `OfferRequest.e2e` says how the plaintext is laid out (see videonet_cli/crypto/).
E2E_RECORD_BYTES: Final = 1 << 20  # plaintext bytes per record (the last may hold fewer)
E2E_TAG_BYTES: Final = 16
E2E_WRAPPED_KEY_BYTES: Final = 80  # HPKE X25519 enc (32) + file key (32) + tag (16)
E2E_STREAM_ID_CHARS: Final = 32  # hex; the sender picks it at random per file key
E2E_MAX_KEYS_PER_OFFER: Final = 256  # wrapped keys in one offer (or one transfer:wrap)
E2E_MAX_KEYS_PER_TRANSFER: Final = 1024  # wrapped keys a transfer may collect in all

# {transfer_id, device_id} -> Ack + KeyReply: this device's wrapped key. When there is none
# the daemon tells the sender (EV_TRANSFER_KEY_WANTED), whose running CLI may wrap one.
EV_TRANSFER_KEY: Final = "transfer:key"
# c->s (the sender) {transfer_id, keys: [WrappedKey]} -> Ack + {added: int}
EV_TRANSFER_WRAP: Final = "transfer:wrap"
EV_TRANSFER_KEY_WANTED: Final = "transfer:key-wanted"  # s->sender KeyWanted
EV_TRANSFER_KEY_ADDED: Final = "transfer:key-added"  # s->recipient {transfer_id, device_ids}


def e2e_ciphertext_size(plain_size: int) -> int:
    """The size of the records of ``plain_size`` plaintext bytes (an empty file: one record)."""
    records = max(1, -(-plain_size // E2E_RECORD_BYTES))
    return plain_size + records * E2E_TAG_BYTES


class WrappedKey(TypedDict):
    user_id: int  # the recipient account
    device_id: str  # one of its devices
    wrapped: str  # base64 of E2E_WRAPPED_KEY_BYTES bytes


class E2eRequest(TypedDict):
    """`transfer:offer`'s `e2e` field; the offer's `size` is e2e_ciphertext_size(plain_size)."""

    stream_id: str  # bound into every wrapped key and record; new with each file key
    plain_size: int
    keys: list[WrappedKey]


class OfferRequest(TypedDict, total=False):
    """`transfer:offer` (protocol 2). A resume is an offer of the same `transfer_id` by its
    sender while unfinished: the sender's own journal decides when it does that."""

    version: int  # TRANSFER_PROTOCOL_VERSION
    transfer_id: str  # TRANSFER_ID_CHARS hex, the sender's pick (it is in the signed header)
    room_id: str
    name: str  # hint: the directory's or the first file's name
    size: int  # e2e_ciphertext_size(e2e.plain_size)
    to: str  # only this member (optional)
    kind: str  # hint: BatchKind
    file_count: int  # hint
    e2e: E2eRequest
    header: str  # base64 of the signed header, at most TRANSFER_HEADER_MAX_BYTES


class E2eInfo(TypedDict):
    """What receivers learn about an encrypted transfer (in `TransferOffer.e2e`)."""

    stream_id: str
    plain_size: int


class KeyReply(TypedDict):
    wrapped: str | None  # None: no key for this device (yet)
    sender_online: bool  # whether the sender has a connection that could wrap one now


class KeyWanted(TypedDict):
    transfer_id: str
    user_id: int
    username: str
    device_id: str


def e2e_encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def e2e_decode(text: object, size: int) -> bytes | None:
    """The raw bytes of ``e2e_encode``'s form if exactly ``size`` long, else None."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    return raw if len(raw) == size else None


# --- Authentication ---------------------------------------------------------------------------
AUTH_COOKIE: Final = "access_token"
JWT_ALGORITHM: Final = "HS256"
JWT_REQUIRED_CLAIMS: Final = ("exp", "iat", "sub", "jti")

# --- Limits (the daemon enforces them; clients use them to fail early) -------------------------
EMAIL_MAX_CHARS: Final = 254
USERNAME_MAX_CHARS: Final = 64
PASSWORD_MIN_BYTES: Final = 8
PASSWORD_MAX_BYTES: Final = 72  # bcrypt's limit; bcrypt 5 raises above it
ROOM_NAME_MAX_CHARS: Final = 100
ROOM_DESCRIPTION_MAX_CHARS: Final = 1000
PASSWORD_FIELD_MAX_CHARS: Final = 1024  # a longer password field is refused before hashing
INVITE_CODE_MAX_CHARS: Final = 64
INVITE_MAX_USES: Final = 10_000
INVITE_MAX_LIFETIME_SECONDS: Final = 365 * 24 * 3600
INVITE_MIN_LIFETIME_SECONDS: Final = 60
# An invite made for a room (`videonet invite --room`) lives this long unless asked otherwise.
ROOM_INVITE_DEFAULT_LIFETIME_SECONDS: Final = 7 * 24 * 3600


class ErrorCode(StrEnum):
    """Machine-readable error codes, shared by HTTP error bodies and Socket.IO error events."""

    BAD_REQUEST = "bad_request"
    INVALID_JSON = "invalid_json"
    VALIDATION = "validation_error"
    INVALID_CREDENTIALS = "invalid_credentials"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    INVALID_INVITE = "invalid_invite"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # a body that is not JSON (415)
    RATE_LIMITED = "rate_limited"
    UNKNOWN_EVENT = "unknown_event"
    INSUFFICIENT_STORAGE = "insufficient_storage"
    TOO_MANY_TRANSFERS = "too_many_transfers"
    TRANSFER_STATE = "transfer_state"
    NOT_JOINED = "not_joined"
    INTERNAL = "internal_error"
    # Chat and presence (see the section at the end of this module).
    TEXT_TOO_LONG = "text_too_long"
    INVALID_TEXT = "invalid_text"
    # Faults and the data plane.
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    UNAVAILABLE = "unavailable"  # a dependency (database, redis) is down: retry later


class ErrorBody(TypedDict):
    code: str
    message: str


class ErrorResponse(TypedDict):
    error: ErrorBody


class Ack(TypedDict, total=False):
    """The reply to every client event: {"ok": true, ...} or {"ok": false, "error": {...}}."""

    ok: bool
    error: ErrorBody


# --- Payload shapes (responses) ---------------------------------------------------------------
class UserInfo(TypedDict):
    id: int
    email: str
    username: str
    created_at: str


class LanguageSetting(TypedDict):
    """The account's saved language: one of i18n.LANGUAGES ("en", "ko", "ja"), or None."""

    language: str | None


class InvitedRoom(TypedDict):
    """The room an invite made its user a member of."""

    id: str
    name: str


class RegisterResponse(TypedDict):
    user: UserInfo
    invite_code: str
    room: InvitedRoom | None  # the invite's room, which the new account is now a member of


@dataclass(frozen=True)
class Text:
    """The rules of a text field in a request body type, declared once with the type
    (``Annotated[str, Text(...)]``): the OpenAPI document states them (openapi.schema_of), the
    daemon checks them (validation.get_body), the CLI builds the body as the type says."""

    max_chars: int
    min_chars: int = 1
    strip: bool = True  # surrounding whitespace is not part of the value
    allow_newlines: bool = False


class RegisterRequest(TypedDict):
    """POST /api/auth/register."""

    email: Annotated[str, Text(EMAIL_MAX_CHARS)]
    username: Annotated[str, Text(USERNAME_MAX_CHARS)]
    password: Annotated[str, Text(PASSWORD_FIELD_MAX_CHARS, strip=False)]
    invite_code: Annotated[str, Text(INVITE_CODE_MAX_CHARS)]


class LoginRequest(TypedDict):
    """POST /api/auth/login."""

    email: Annotated[str, Text(EMAIL_MAX_CHARS)]
    password: Annotated[str, Text(PASSWORD_FIELD_MAX_CHARS, strip=False)]


class LoginResponse(TypedDict):
    token: str
    token_type: str
    expires_at: str
    user: UserInfo


class InviteInfo(TypedDict):
    code: str
    uses_left: int
    max_uses: int
    expires_at: str | None
    created_at: str
    room: InvitedRoom | None  # whoever registers (or redeems) with it becomes a member


class RedeemRequest(TypedDict):
    """POST /api/invites/redeem."""

    invite_code: Annotated[str, Text(INVITE_CODE_MAX_CHARS)]


class DirectRoomRequest(TypedDict):
    """POST /api/rooms/direct."""

    username: Annotated[str, Text(USERNAME_MAX_CHARS)]


# --- Invite links -----------------------------------------------------------------------------
# `videonet invite` prints `videonet join ORIGIN/#join=CODE`: the daemon's origin, then the code in
# the fragment, which a browser never sends to a server (nor to its logs); the web page at ORIGIN
# reads it and shows the sign-up form. The room is the invite's, known to the daemon.
INVITE_LINK_KEY: Final = "join"


def invite_link(origin: str, code: str) -> str:
    """The link for ``code`` on the daemon at ``origin`` (``scheme://host[:port]``)."""
    return f"{origin.rstrip('/')}/#{INVITE_LINK_KEY}={code}"


def parse_invite_link(link: str) -> tuple[str, str]:
    """(origin, code) from an invite link; ValueError saying what is wrong with it."""
    text = link.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a link ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an invite link (expected https://HOST/#join=CODE)")
    if parts.path.strip("/") or parts.query or parts.username or parts.password:
        raise ValueError(f"{text!r} is not an invite link: it has more than the daemon's address")
    codes = parse_qs(parts.fragment).get(INVITE_LINK_KEY, [])
    code = codes[0].strip() if len(codes) == 1 else ""
    if not code or len(code) > INVITE_CODE_MAX_CHARS:
        raise ValueError(f"{text!r} holds no invite code (expected https://HOST/#join=CODE)")
    return f"{parts.scheme}://{parts.netloc}", code


class RoomInfo(TypedDict):
    id: str
    name: str
    description: str
    creator_name: str
    creator_id: int
    participant_count: int
    is_joined: bool
    private: bool  # only members see it; others get 404 on its id
    created_at: str


class RoomsPage(TypedDict):
    rooms: list[RoomInfo]
    next_cursor: str | None  # pass as ?cursor= for the next page; None on the last one


class MemberInfo(TypedDict):
    user_id: int
    username: str
    joined_at: str


class HealthResponse(TypedDict):
    """200 with status "ok", or 503 with status "degraded" naming what is down."""

    status: str  # HEALTH_OK or HEALTH_DEGRADED
    version: str
    protocol: int
    # Each dependency this daemon uses ("database", "redis" and "object storage" when
    # configured): "ok" or "unavailable".
    dependencies: dict[str, str]


HEALTH_OK: Final = "ok"
HEALTH_DEGRADED: Final = "degraded"
DEPENDENCY_OK: Final = "ok"
DEPENDENCY_DOWN: Final = "unavailable"


# --- Chat and presence ------------------------------------------------------------------------
# Rules that clients can rely on (docs/chat.md has the full story):
# - every client event is answered by an `Ack`; a refused event sent without one gets `EV_ERROR`;
# - a message is stored before it is fanned out, so an acknowledged message is never lost;
# - `EV_ROOM_JOIN` with `since` first sends, as `EV_CHAT_MESSAGE` events in id order, the messages
#   with an id above `since`, then the ack; live messages follow, so nothing is missed or reordered
#   (clients should still drop ids they have already seen, e.g. after a reconnect).
API_ROOM_MESSAGES: Final = "/api/rooms/{room_id}/messages"  # GET ?before=ID&limit=N -> HistoryPage
# POST {text} -> ChatMessage (201): one message without a socket, so no presence comes and goes
# (`videonet chat ROOM --send`); fanned out to the room exactly as `chat:send` is.

# Client -> server (each answered by an Ack carrying the fields named after "->").
EV_CHAT_SEND: Final = "chat:send"  # ChatSendRequest -> {message: ChatMessage}
EV_PRESENCE_WHO: Final = "presence:who"  # {room_id} -> {room_id, online: [PresenceUser]}
# `EV_ROOM_JOIN` also takes an optional `since` (JoinRequest) and answers with JoinAck.

# Server -> client.
EV_CHAT_MESSAGE: Final = "chat:message"  # ChatMessage, to every socket in the room's channel
EV_PRESENCE: Final = "presence"  # PresenceEvent: a user came online or went away
EV_ROOM_REMOVED: Final = "room:removed"  # {room_id}: you left the room (e.g. over HTTP)
# {room_id, name}: the room's creator deleted it; its sockets leave its channel next.
EV_ROOM_DELETED: Final = "room:deleted"
EV_ROOM_RENAMED: Final = "room:renamed"  # {room_id, name}: the room's new name


class PresenceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


PRESENCE_ONLINE: Final = PresenceStatus.ONLINE
PRESENCE_OFFLINE: Final = PresenceStatus.OFFLINE

# Defaults of the daemon's chat settings (the daemon's values win; see docs/chat.md).
CHAT_MAX_CHARS: Final = 4000
CHAT_RATE_PER_SECOND: Final = 5.0
CHAT_BURST: Final = 20
CHAT_SYNC_MAX: Final = 1000  # most messages sent on one join with `since`
HISTORY_PAGE_DEFAULT: Final = 50
HISTORY_PAGE_MAX: Final = 200


class JoinRequest(TypedDict, total=False):
    room_id: str  # required
    since: int  # last message id the client has seen; 0 for "everything (up to the sync cap)"
    # true: also listen for transfer offers in the room, as EV_TRANSFER_LISTEN does (the ack
    # carries its `offers`; `declined` as there): `videonet receive` joins and listens in one
    # round trip.
    listen: bool
    declined: bool


class PresenceUser(TypedDict):
    user_id: int
    username: str


class JoinAck(TypedDict):
    ok: bool
    room_id: str
    online: list[PresenceUser]
    synced: int  # how many missed messages were sent before this ack
    truncated: bool  # more were missed than CHAT_SYNC_MAX: page the rest over HTTP
    offers: NotRequired[list[TransferOffer]]  # with `listen`: the offers pending, as listen's


class ChatSendRequest(TypedDict):
    room_id: str
    text: str


class ChatMessage(TypedDict):
    id: int  # increases with every message; order within a room is id order
    room_id: str
    user_id: int
    username: str
    text: str
    created_at: str


class PresenceEvent(TypedDict):
    room_id: str
    user_id: int
    username: str
    status: str  # a PresenceStatus


class HistoryPage(TypedDict):
    room_id: str
    messages: list[ChatMessage]  # oldest first
    has_more: bool  # older messages exist: ask again with before=messages[0].id


# --- Calls ----------------------------------------------------------------------------------
# WebRTC signaling only: the daemon relays offers, answers, ICE candidates and hang-ups between
# the participants of one room's call, each message addressed to one peer; the media flows peer
# to peer (a mesh, the newcomer offers to everyone already in the call). A participant is one
# socket, named by its `peer_id`, so one user can take part from two devices at once.
EV_CALL_JOIN: Final = "call:join"  # {room_id} -> Ack + CallJoinReply; the others get CALL_JOINED
EV_CALL_LEAVE: Final = "call:leave"  # {room_id} -> Ack; the others get CALL_LEFT
# c->s {room_id, to: peer_id, sdp} -> Ack; s->that peer CallSignal {room_id, peer, sdp}
EV_CALL_OFFER: Final = "call:offer"
EV_CALL_ANSWER: Final = "call:answer"  # as EV_CALL_OFFER
# c->s {room_id, to, candidate: IceCandidate | null (end of candidates)}; s->peer CallSignal
EV_CALL_CANDIDATE: Final = "call:candidate"
EV_CALL_HANGUP: Final = "call:hangup"  # c->s {room_id, to, reason?}: close one peer connection
EV_CALL_JOINED: Final = "call:joined"  # s->participants {room_id, peer: CallPeer}
EV_CALL_LEFT: Final = "call:left"  # s->participants {room_id, peer: CallPeer, reason: LeftReason}
# A participant's microphone/camera on or off and whether it is speaking, the same in a mesh and
# through a media server: c->s {room_id, audio, video, speaking} -> Ack; s->the others in the
# call CallState (with the sender as `peer`).
EV_CALL_STATE: Final = "call:state"
# With a media server (an SFU, Janus): c->s {room_id} -> Ack + MediaAccess, a fresh token (and
# the current pin) while the sender is still a member in the call; refresh before it expires.
EV_CALL_MEDIA_TOKEN: Final = "call:media_token"
# Recording on the media server (opt-in): c->s {room_id, on: bool} -> Ack + CallRecordReply.
# Everyone in the call gets CALL_RECORDING before the recording starts and when it stops.
EV_CALL_RECORD: Final = "call:record"
EV_CALL_RECORDING: Final = "call:recording"  # s->call {room_id, recording: CallRecording|None,
#   stopped?: CallRecording, files?: [name]}: the files are at API_CALL_RECORDING_FILE
API_CALL_RECORDING_FILE: Final = "/api/rooms/{room_id}/call-recordings/{recording_id}/{name}"

CALL_SDP_MAX_CHARS: Final = 60_000  # a real SDP is 2-15 KB; the message cap is a daemon setting
CALL_CANDIDATE_MAX_CHARS: Final = 1_000
CALL_REASON_MAX_CHARS: Final = 200
CALL_MID_MAX_CHARS: Final = 64  # IceCandidate.sdpMid
CALL_UFRAG_MAX_CHARS: Final = 256  # IceCandidate.usernameFragment
CALL_MLINE_INDEX_MAX: Final = 1023  # IceCandidate.sdpMLineIndex


def call_channel(room_id: str) -> str:
    """The Socket.IO room holding the sockets taking part in one VideoNet room's call."""
    return f"call:{room_id}"


class LeftReason(StrEnum):
    LEFT = "left"  # call:leave
    DISCONNECTED = "disconnected"  # the socket went away
    # the socket left the room (room:leave, or its user left over HTTP); a CALL_LEFT naming
    # yourself means you are out of the call
    LEFT_ROOM = "left_room"


class CallPeer(TypedDict):
    peer_id: str
    user_id: int
    username: str


class IceServer(TypedDict, total=False):
    """One entry of RTCConfiguration.iceServers, as browsers and aiortc take it."""

    urls: list[str]
    username: str
    credential: str


class IceCandidate(TypedDict):
    """RTCIceCandidateInit; an empty `candidate` is a browser's end-of-candidates marker."""

    candidate: str  # "candidate:..."
    sdpMid: str | None
    sdpMLineIndex: int | None
    usernameFragment: str | None


class MediaAccess(TypedDict):
    """How to reach the room's VideoRoom on the media server (Janus), for one participant.

    Publish as feed id = your peer_id (display: your username); subscribe to the other feeds.
    Janus checks ``token`` on every request: get a new one with EV_CALL_MEDIA_TOKEN before
    ``token_expires_at``. The ``pin`` changes when a participant loses access; the refresh
    brings the current one."""

    server: str  # the Janus HTTP API URL, e.g. https://videonet.example.org/janus
    room: str  # the VideoRoom id (the room's id; Janus runs with string_ids)
    pin: str
    token: str  # a Janus signed token for janus.plugin.videoroom
    token_expires_at: int  # epoch seconds


class CallState(TypedDict):
    room_id: str
    peer: CallPeer
    audio: bool  # its microphone (or audio source) is on
    video: bool  # its camera (or video source) is on
    speaking: bool  # its audio is above the speaking threshold now


class CallRecording(TypedDict):
    """A recording of the call on the media server: who asked, since when."""

    id: str
    by: CallPeer
    started_at: int  # epoch seconds


class CallRecordReply(TypedDict, total=False):
    recording: CallRecording | None  # the recording in progress (None: stopped)
    stopped: CallRecording  # the one that just stopped
    files: list[str]  # its post-processed files: WebM (video) and Opus (audio) per participant


class CallJoinReply(TypedDict):
    room_id: str
    peer_id: str  # this socket, as the others will see it
    participants: list[CallPeer]  # already in the call, in join order; the newcomer offers
    ice_servers: list[IceServer]  # STUN/TURN; TURN credentials are minted for this join
    ice_expires_at: int | None  # epoch seconds when the TURN credentials stop working
    signal_max_bytes: int  # the largest signaling message the daemon takes
    # None: a mesh (offer to each participant); else the SFU: publish once, subscribe to others
    media: MediaAccess | None
    recording: CallRecording | None  # the call is being recorded on the media server


class CallSignal(TypedDict, total=False):
    """What a peer receives: who sent it, and the relayed offer/answer SDP, candidate or reason."""

    room_id: str
    peer: CallPeer
    sdp: str
    candidate: IceCandidate | None
    reason: str


# --- Identities and device keys -------------------------------------------------------------
# Each account has one identity: an Ed25519 key made on its first CLI installation, whose
# public half the daemon stores. Each installation (a "device") has two key pairs: X25519 to
# receive wrapped file keys, Ed25519 to sign what it sends. The identity certifies each device
# (a signature over the device's keys and label) and revokes a retired one. The daemon stores
# identity key, device keys, certificates and revocations as given (opaque, size-limited) and
# hands them out; it never holds a private key and cannot make a certificate. Clients check
# every signature themselves (videonet_cli/identity). A user's keys are listed to that user and
# to users who share a room with them; anyone else hears not_found.
API_KEYS: Final = "/api/keys"  # GET -> UserKeys (yours); POST DevicePublish -> DeviceKeyInfo
# PATCH DeviceUpdate -> DeviceKeyInfo (certificate, label, revocation); DELETE: remove the row
API_KEY: Final = "/api/keys/{device_id}"
API_IDENTITY: Final = "/api/identity"  # PUT IdentityPublish -> UserKeys (your account's identity)
API_USER_KEYS: Final = "/api/users/{username}/keys"  # GET -> UserKeys
# GET -> RoomKeys: every member's identity and devices in one answer (members only; a stranger
# hears not_found, as for the room's members): a send to a room lists its recipients with it.
API_ROOM_KEYS: Final = "/api/rooms/{room_id}/keys"

X25519_PUBLIC_KEY_BYTES: Final = 32
ED25519_PUBLIC_KEY_BYTES: Final = 32
DEVICE_ID_MIN_CHARS: Final = 8
DEVICE_ID_MAX_CHARS: Final = 64
DEVICE_ID_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
DEVICE_LABEL_MAX_CHARS: Final = 64
DEVICES_PER_USER_DEFAULT: Final = 10  # the daemon's setting max_devices_per_user (revoked: free)
FINGERPRINT_BYTES: Final = 20  # of the SHA-256 of the raw public key: 160 bits, 32 characters
# A certificate or revocation is a version byte and a 64-byte Ed25519 signature today; the
# limit leaves room for a later version without letting the column grow without bound.
SIGNED_BLOB_MAX_CHARS: Final = 344  # base64 of up to 256 bytes


def key_fingerprint(public_key: bytes) -> str:
    """What people compare: SHA-256 of the raw 32-byte public key, its first 20 bytes in
    base32 (RFC 4648, no padding), as eight groups of four: ``ABCD-EFGH-...``."""
    digest = hashlib.sha256(public_key).digest()[:FINGERPRINT_BYTES]
    text = base64.b32encode(digest).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def device_fingerprint(x25519_public: bytes, ed25519_public: bytes) -> str:
    """A device's fingerprint: `key_fingerprint` of both its public keys (receive, then sign)."""
    return key_fingerprint(x25519_public + ed25519_public)


def encode_public_key(public_key: bytes) -> str:
    """A raw public key as it travels in JSON: standard base64 with padding (44 characters)."""
    return base64.b64encode(public_key).decode("ascii")


def decode_public_key(text: str) -> bytes | None:
    """The raw key from `encode_public_key`'s form, or None when it is not exactly that."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) != X25519_PUBLIC_KEY_BYTES or encode_public_key(raw) != text:
        return None
    return raw


def decode_blob(text: str | None) -> bytes | None:
    """A certificate or revocation from its base64 form; None when absent or malformed."""
    if not isinstance(text, str) or not text or len(text) > SIGNED_BLOB_MAX_CHARS:
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


class DevicePublish(TypedDict, total=False):
    device_id: str  # required
    public_key: str  # required: encode_public_key of the X25519 public key
    signing_key: str  # required: encode_public_key of the Ed25519 public key
    label: str  # a name for people, e.g. the host name


class DeviceUpdate(TypedDict, total=False):
    certificate: str  # base64, made by the account's identity (the daemon does not check it)
    label: str  # with a new certificate: the label is part of what is certified
    revocation: str  # base64, the identity's signed revocation: the device is retired for good


class IdentityPublish(TypedDict, total=False):
    identity_key: str  # required: encode_public_key of the identity's Ed25519 public key
    replace: bool  # replace an existing, different identity (others will see a changed one)


class DeviceKeyInfo(TypedDict):
    device_id: str
    public_key: str
    signing_key: str  # "" for a device published before identities existed
    fingerprint: str  # key_fingerprint of the X25519 key, computed by the daemon
    label: str
    certificate: str  # "" when not (yet) certified
    revocation: str  # "" unless revoked
    created_at: str


class UserKeys(TypedDict):
    user_id: int
    username: str
    identity_key: str  # "" while the account has no identity yet
    devices: list[DeviceKeyInfo]  # oldest first


class RoomKeys(TypedDict):
    room_id: str
    members: list[UserKeys]  # every member, the caller too, by user id


# --- Device linking --------------------------------------------------------------------------
# `videonet devices link`: a new device shows a one-time code; a device that holds the account's
# identity types it. A SPAKE2 exchange under that code (videonet_cli/identity/link.py) carries
# the new device's keys to the identity and the certificate back, so a daemon that changes a
# message makes the exchange fail. The daemon relays the messages between sockets of the same
# account only, never stores one, and limits how many each account sends.
# c->s DeviceLinkMessage -> Ack; s->every other socket of the same user DeviceLinkMessage
EV_DEVICE_LINK: Final = "device:link"
DEVICE_LINK_BODY_MAX_CHARS: Final = 1024  # base64 of one message (the largest is ~400)
DEVICE_LINK_MESSAGES_BURST: Final = 12
DEVICE_LINK_MESSAGES_PER_SECOND: Final = 0.5


class LinkStep(StrEnum):
    PAKE = "pake"  # existing -> new: its SPAKE2 message
    REPLY = "reply"  # new -> existing: its SPAKE2 message, confirmation, sealed device keys
    DONE = "done"  # existing -> new: its confirmation, sealed identity key and certificate
    FAIL = "fail"  # either way: the exchange failed; body ""


class DeviceLinkMessage(TypedDict):
    nameplate: str  # the code's number: which waiting device the message is for
    exchange: str  # CODE_EXCHANGE_ID_CHARS lowercase hex, chosen by the existing device
    step: str  # LinkStep
    body: str  # standard base64; "" for FAIL


# --- One-off codes (`send --code`, `receive --code`) ----------------------------------------
# A SPAKE2 exchange (videonet_cli/crypto/pake.py) between a transfer's sender and one member of
# its room carries the file key past the daemon. The daemon relays the messages over Socket.IO
# and stores none of them; it checks who may talk to whom and how much, and cannot read the key
# (a daemon that changes a message makes the exchange fail, and the code is spent).
#
# A code is ``NAMEPLATE-WORD-WORD``. The nameplate (the number) is not secret, but it is not
# shown to the room either: the sender opens its number (`code:open`, for a transfer it sent),
# the receiver sends the number in a seek, and the daemon passes the seek only to the sockets
# that opened that number in that room; the sender answers with its first message. Every
# message after that names the transfer and the exchange (the receiver's random id, so the
# receiver's other sockets and other exchanges can tell them apart).
#
# c->s CodeOpen -> Ack: this socket (the transfer's sender, in its room) hears seeks for the number
EV_CODE_OPEN: Final = "code:open"
# c->s CodeSeek -> Ack; s->the sockets that opened the number in the room (code_channel) CodeSeen
EV_CODE_SEEK: Final = "code:seek"
# c->s CodeMessage -> Ack; s->every socket of `to_user_id` CodeRelayed. The sender may address
# a member the transfer is offered to; a member may address only the transfer's sender.
EV_CODE_MESSAGE: Final = "code:message"

CODE_NAMEPLATE_MAX_DIGITS: Final = 4
CODE_EXCHANGE_ID_CHARS: Final = 32  # lowercase hex, chosen by the receiver
CODE_BODY_MAX_CHARS: Final = 256  # base64 of one message (the largest is 124 characters)
# Messages about one transfer (both directions, every exchange): a burst, then a slow trickle.
# A right code needs 3 messages, so this is plenty; it bounds what one transfer can relay.
CODE_MESSAGES_BURST: Final = 24
CODE_MESSAGES_PER_SECOND: Final = 0.2
# Seeks by one user: receivers repeat theirs every few seconds until a sender answers.
CODE_SEEKS_BURST: Final = 10
CODE_SEEKS_PER_SECOND: Final = 1.0


class CodeStep(StrEnum):
    PAKE = "pake"  # sender -> receiver: the sender's SPAKE2 message
    REPLY = "reply"  # receiver -> sender: its SPAKE2 message and key confirmation
    KEY = "key"  # sender -> receiver: its key confirmation and the sealed file key
    FAIL = "fail"  # either way: this exchange failed (wrong code or changed messages); body ""


class CodeOpen(TypedDict):
    transfer_id: str  # a transfer this user sent, not aborted
    nameplate: str  # decimal digits, no leading zero


class CodeSeek(TypedDict):
    room_id: str
    nameplate: str  # decimal digits, no leading zero
    exchange: str


class CodeSeen(TypedDict):
    room_id: str
    nameplate: str
    exchange: str
    user_id: int  # who seeks (the daemon fills it in)
    username: str


class CodeMessage(TypedDict):
    transfer_id: str
    to_user_id: int
    exchange: str
    step: str  # CodeStep
    body: str  # standard base64 of the message bytes; "" for FAIL


class CodeRelayed(TypedDict):
    transfer_id: str
    exchange: str
    step: str
    body: str
    from_user_id: int  # who sent it (the daemon fills it in)
    from_username: str
