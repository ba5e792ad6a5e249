"""The daemon's settings, declared once: name, default, environment variable and help text.

`Settings.load()` reads the environment; command-line options override single fields.
docs/settings.md lists every field, and a test keeps the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

from videonet_protocol import protocol

# Short lifetimes are for tests of expiry; sockets end when their token does, whatever it is.
MIN_TOKEN_LIFETIME = 5
LOG_LEVELS = ("debug", "info", "warning")
DATABASE_SCHEMES = (
    "sqlite://",
    "sqlite+aiosqlite://",
    "postgresql://",
    "postgres://",
    "postgresql+asyncpg://",
)


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _setting(
    default: Any, env: str, help: str, secret: bool = False, shown: str | None = None
) -> Any:
    """A field with its environment variable and help; `shown` replaces a secret's doc default."""
    metadata = {"env": env, "help": help, "secret": secret, "shown": shown}
    return field(default=default, metadata=metadata)


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("videonet-daemon", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Everything the daemon can be told. Times are seconds, sizes are bytes."""

    host: str = _setting(protocol.DEFAULT_HOST, "VIDEONET_HOST", "Address to listen on.")
    port: int = _setting(
        protocol.DEFAULT_PORT, "VIDEONET_PORT", "Port to listen on; 0 picks a free one."
    )
    data_dir: Path | None = _setting(
        None,
        "VIDEONET_DAEMON_DATA_DIR",
        "Directory for the SQLite database, the JWT key and spooled transfers "
        "(default: the platform's user data dir).",
    )
    database_url: str | None = _setting(
        None,
        "VIDEONET_DATABASE_URL",
        "SQLAlchemy-style database URL; default SQLite in the data dir.",
    )
    redis_url: str | None = _setting(
        None, "VIDEONET_REDIS_URL", "Redis URL for Socket.IO fan-out between several daemons."
    )
    jwt_secret: str | None = _setting(
        None,
        "VIDEONET_JWT_SECRET",
        "JWT signing key; default: generated on first start, kept in DATA_DIR/jwt-secret (0600).",
        secret=True,
    )
    token_lifetime: int = _setting(
        24 * 3600, "VIDEONET_TOKEN_LIFETIME", "Lifetime of a login token, in seconds."
    )
    bcrypt_rounds: int = _setting(
        12, "VIDEONET_BCRYPT_ROUNDS", "bcrypt cost factor for new password hashes (4-16)."
    )
    login_failures_max: int = _setting(
        5,
        "VIDEONET_LOGIN_FAILURES_MAX",
        "Failed logins allowed per account and per client address within the window.",
    )
    login_failures_window: int = _setting(
        15 * 60, "VIDEONET_LOGIN_FAILURES_WINDOW", "Window for counting failed logins, in seconds."
    )
    register_failures_max: int = _setting(
        10,
        "VIDEONET_REGISTER_FAILURES_MAX",
        "Failed sign-ups (bad invite, name or email taken) allowed per client address within "
        "the window.",
    )
    register_failures_window: int = _setting(
        3600,
        "VIDEONET_REGISTER_FAILURES_WINDOW",
        "Window for counting failed sign-ups, in seconds.",
    )
    max_json_bytes: int = _setting(
        64 * 1024, "VIDEONET_MAX_JSON_BYTES", "Largest JSON request body accepted (413 above)."
    )
    personal_invite_uses: int = _setting(
        5, "VIDEONET_PERSONAL_INVITE_USES", "Uses of the invite code each new account receives."
    )
    max_devices_per_user: int = _setting(
        protocol.DEVICES_PER_USER_DEFAULT,
        "VIDEONET_MAX_DEVICES_PER_USER",
        "Most device keys one account may publish (each CLI installation has one).",
    )
    trust_proxy: bool = _setting(
        False,
        "VIDEONET_TRUST_PROXY",
        "Trust X-Forwarded-For/-Proto from a reverse proxy (client address, Secure cookies).",
    )
    trusted_proxy_hops: int = _setting(
        1,
        "VIDEONET_TRUSTED_PROXY_HOPS",
        "With trust_proxy: how many reverse proxies in front of the daemon append to "
        "X-Forwarded-For; the client address is the entry that many from the right.",
    )
    transfer_max_bytes: int = _setting(
        64 * 2**30, "VIDEONET_TRANSFER_MAX_BYTES", "Largest file a transfer may carry."
    )
    transfer_max_active: int = _setting(
        8,
        "VIDEONET_TRANSFER_MAX_ACTIVE",
        "Unfinished transfers (uploading or resumable) one user may have at once.",
    )
    transfer_retention: int = _setting(
        3600,
        "VIDEONET_TRANSFER_RETENTION",
        "How long a completed transfer stays in the spool for late or resuming receivers.",
    )
    transfer_idle_timeout: int = _setting(
        3600,
        "VIDEONET_TRANSFER_IDLE_TIMEOUT",
        "An unfinished transfer with no progress for this long is deleted.",
    )
    transfer_stall_timeout: int = _setting(
        120,
        "VIDEONET_TRANSFER_STALL_TIMEOUT",
        "An upload that sends no byte for this many seconds is ended (interrupted; resumable).",
    )
    spool_dir: Path | None = _setting(
        None,
        "VIDEONET_SPOOL_DIR",
        "Where transfer bytes are spooled (default DATA_DIR/spool); a fast disk or a tmpfs "
        "large enough for the transfers in flight makes transfers faster.",
    )
    spool_min_free_bytes: int = _setting(
        2**30,
        "VIDEONET_SPOOL_MIN_FREE_BYTES",
        "Free disk space the spool must leave; bigger offers get 507.",
    )
    spool_url: str | None = _setting(
        None,
        "VIDEONET_SPOOL_URL",
        "s3://BUCKET/PREFIX keeps transfer bytes in S3-compatible object storage, shared by "
        "every daemon of the service; default: the local spool directory.",
    )
    s3_endpoint: str | None = _setting(
        None,
        "VIDEONET_S3_ENDPOINT",
        "Endpoint of a non-AWS object store (SeaweedFS, MinIO, Ceph RGW, Garage), "
        "e.g. http://127.0.0.1:8333; default: AWS S3 of the region.",
    )
    s3_access_key_id: str | None = _setting(
        None, "AWS_ACCESS_KEY_ID", "Access key of the object store (with --spool-url s3://…)."
    )
    s3_secret_access_key: str | None = _setting(
        None,
        "AWS_SECRET_ACCESS_KEY",
        "Secret key of the object store (with --spool-url s3://…).",
        secret=True,
        shown="None",
    )
    s3_region: str = _setting("us-east-1", "AWS_REGION", "Region of the object store.")
    spool_segment_bytes: int = _setting(
        protocol.SPOOL_SEGMENT_BYTES_DEFAULT,
        "VIDEONET_SPOOL_SEGMENT_BYTES",
        "Size of one object of a transfer in object storage: receivers read a segment once it "
        "has landed, and a resumed upload restarts at the last segment (default: 8 encrypted "
        "records of 1 MiB + 16 bytes).",
    )
    verify_max_bytes: int = _setting(
        4 * 2**30,
        "VIDEONET_VERIFY_MAX_BYTES",
        "Largest file /api/video/verify accepts (each of the two).",
    )
    cluster_name: str = _setting(
        "videonet",
        "VIDEONET_CLUSTER_NAME",
        "Name of the service the daemons sharing one Redis form (prefix of their channels).",
    )
    advertise_url: str | None = _setting(
        None,
        "VIDEONET_ADVERTISE_URL",
        "How other daemons of the same service reach this one (for transfer bytes held here); "
        "default http://HOST:PORT as bound.",
    )
    tls_cert: Path | None = _setting(
        None, "VIDEONET_TLS_CERT", "PEM certificate: serve HTTPS (with --tls-key)."
    )
    tls_key: Path | None = _setting(None, "VIDEONET_TLS_KEY", "PEM private key for --tls-cert.")
    metrics: str = _setting(
        "loopback",
        "VIDEONET_METRICS",
        "/metrics (Prometheus): 'loopback' (only from this machine), 'on' or 'off'.",
    )
    log_format: str = _setting("text", "VIDEONET_LOG_FORMAT", "Log lines as 'text' or 'json'.")
    socket_event_rate: float = _setting(
        50.0,
        "VIDEONET_SOCKET_EVENT_RATE",
        "Socket.IO events per second one connection may send on average (rate_limited above).",
    )
    socket_event_burst: int = _setting(
        200, "VIDEONET_SOCKET_EVENT_BURST", "Socket.IO events one connection may send at once."
    )
    http_header_timeout: float = _setting(
        15.0,
        "VIDEONET_HTTP_HEADER_TIMEOUT",
        "Seconds a client has to send a request's whole head (request line and headers), from "
        "connecting or from the request's first byte; the connection is closed after.",
    )
    http_body_timeout: float = _setting(
        30.0,
        "VIDEONET_HTTP_BODY_TIMEOUT",
        "Seconds a client has, after a request's head, to send a JSON body or a Socket.IO "
        "polling request whole (400 after); transfer uploads have their own stall timeout.",
    )
    http_idle_timeout: float = _setting(
        75.0,
        "VIDEONET_HTTP_IDLE_TIMEOUT",
        "Seconds a kept-alive HTTP connection may sit without a request before it is closed.",
    )
    max_invites_per_user: int = _setting(
        50,
        "VIDEONET_MAX_INVITES_PER_USER",
        "Usable invites (uses left, not expired) one account may hold; creating more is refused.",
    )
    socket_connect_timeout: float = _setting(
        10.0,
        "VIDEONET_SOCKET_CONNECT_TIMEOUT",
        "Seconds a new Socket.IO connection has to log in (its connect with the token) before "
        "it is closed.",
    )
    socket_ping_interval: float = _setting(
        25.0,
        "VIDEONET_SOCKET_PING_INTERVAL",
        "Seconds between the daemon's pings on each Socket.IO connection (engine.io's "
        "pingInterval); keep it under any proxy's idle timeout in front of the daemon.",
    )
    socket_ping_timeout: float = _setting(
        20.0,
        "VIDEONET_SOCKET_PING_TIMEOUT",
        "Seconds a Socket.IO client has to answer a ping before the daemon drops its connection "
        "(engine.io's pingTimeout).",
    )
    socket_handshake_rate: float = _setting(
        20.0,
        "VIDEONET_SOCKET_HANDSHAKE_RATE",
        "New Socket.IO connections (engine.io handshakes) one client address may open per "
        "second on average, before any login (429 above).",
    )
    socket_handshake_burst: int = _setting(
        200,
        "VIDEONET_SOCKET_HANDSHAKE_BURST",
        "New Socket.IO connections one client address may open at once.",
    )
    max_sockets_per_user: int = _setting(
        20,
        "VIDEONET_MAX_SOCKETS_PER_USER",
        "Socket.IO connections one account may hold open on one daemon (refused above).",
    )
    direct_rooms_per_day: int = _setting(
        50,
        "VIDEONET_DIRECT_ROOMS_PER_DAY",
        "New direct rooms (`videonet send @USER`) one account may open in 24 hours (429 above); "
        "finding one it already has is not counted.",
    )
    max_rooms_per_user: int = _setting(
        200,
        "VIDEONET_MAX_ROOMS_PER_USER",
        "Rooms one account may be a member of (creating, joining or being added is refused above).",
    )
    verdict_waiters_per_socket: int = _setting(
        8,
        "VIDEONET_VERDICT_WAITERS_PER_SOCKET",
        "transfer:verdict events one connection may have waiting for a sender's seal at once.",
    )
    verdict_waiters_per_transfer: int = _setting(
        100,
        "VIDEONET_VERDICT_WAITERS_PER_TRANSFER",
        "transfer:verdict events that may wait for one transfer's seal at once, on one daemon.",
    )
    chat_max_chars: int = _setting(
        protocol.CHAT_MAX_CHARS,
        "VIDEONET_CHAT_MAX_CHARS",
        "Longest chat message, in characters (text_too_long above).",
    )
    chat_rate: float = _setting(
        protocol.CHAT_RATE_PER_SECOND,
        "VIDEONET_CHAT_RATE",
        "Chat messages per second each user may send on average (token bucket refill rate).",
    )
    chat_burst: int = _setting(
        protocol.CHAT_BURST,
        "VIDEONET_CHAT_BURST",
        "Chat messages a user may send at once before the rate applies (token bucket size).",
    )
    chat_sync_max: int = _setting(
        protocol.CHAT_SYNC_MAX,
        "VIDEONET_CHAT_SYNC_MAX",
        "Most missed messages sent to a client that rejoins with `since`; older ones via HTTP.",
    )
    stun_urls: str = _setting(
        "",
        "VIDEONET_STUN_URLS",
        "STUN servers handed to call participants, comma-separated "
        "(e.g. stun:stun.example.org:3478); empty: host candidates only.",
    )
    turn_urls: str = _setting(
        "",
        "VIDEONET_TURN_URLS",
        "TURN servers handed to call participants, comma-separated "
        "(e.g. turn:turn.example.org:3478?transport=udp); needs VIDEONET_TURN_SECRET.",
    )
    turn_secret: str | None = _setting(
        None,
        "VIDEONET_TURN_SECRET",
        "Shared secret of the TURN server (coturn: use-auth-secret + static-auth-secret); "
        "each call join gets credentials minted from it.",
        secret=True,
        shown="None",
    )
    turn_credential_lifetime: int = _setting(
        3600,
        "VIDEONET_TURN_CREDENTIAL_LIFETIME",
        "How long minted TURN credentials work, in seconds; cover the longest call.",
    )
    media_server_url: str | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_URL",
        "Janus HTTP API the daemon drives (e.g. http://127.0.0.1:8088/janus): calls go through "
        "its VideoRoom (an SFU) instead of a mesh; empty: a mesh.",
    )
    media_server_public_url: str | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_PUBLIC_URL",
        "The Janus URL handed to call participants (e.g. https://videonet.example.org/janus); "
        "default: VIDEONET_MEDIA_SERVER_URL.",
    )
    media_server_token_secret: str | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_TOKEN_SECRET",
        "Janus token_auth_secret: the daemon signs short-lived join tokens with it "
        "(required with VIDEONET_MEDIA_SERVER_URL).",
        secret=True,
        shown="None",
    )
    media_server_admin_key: str | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_ADMIN_KEY",
        "The VideoRoom plugin's admin_key, needed to create rooms "
        "(required with VIDEONET_MEDIA_SERVER_URL).",
        secret=True,
        shown="None",
    )
    media_server_admin_url: str | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_ADMIN_URL",
        "Janus Admin API (e.g. http://127.0.0.1:7088/admin): a removed member's Janus session "
        "is destroyed at once; without it, when its token lapses.",
    )
    media_server_admin_secret: str | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_ADMIN_SECRET",
        "Janus admin_secret, for VIDEONET_MEDIA_SERVER_ADMIN_URL.",
        secret=True,
        shown="None",
    )
    media_server_recordings_dir: Path | None = _setting(
        None,
        "VIDEONET_MEDIA_SERVER_RECORDINGS_DIR",
        "Directory Janus writes call recordings to (on this machine, or shared with it): "
        "`videonet call --record-room` works only with it.",
    )
    media_token_lifetime: int = _setting(
        120,
        "VIDEONET_MEDIA_TOKEN_LIFETIME",
        "Seconds a Janus join token works; participants refresh it while they are in the call.",
    )
    call_signal_max_bytes: int = _setting(
        64 * 1024,
        "VIDEONET_CALL_SIGNAL_MAX_BYTES",
        "Largest call signaling message (offer, answer, candidate) the daemon relays.",
    )
    call_signal_rate: int = _setting(
        20,
        "VIDEONET_CALL_SIGNAL_RATE",
        "Call signaling messages one socket may send per second, on average.",
    )
    call_signal_burst: int = _setting(
        100,
        "VIDEONET_CALL_SIGNAL_BURST",
        "Call signaling messages one socket may send at once before the rate applies.",
    )
    call_max_participants: int = _setting(
        12,
        "VIDEONET_CALL_MAX_PARTICIPANTS",
        "Participants in one room's call (a mesh: each sends its media to every other).",
    )
    node_heartbeat_interval: float = _setting(
        5.0,
        "VIDEONET_NODE_HEARTBEAT_INTERVAL",
        "Seconds between a daemon's heartbeats in Redis; one silent for three of them is taken "
        "for dead and the others remove its call participants and its users' presence.",
    )
    web_allowed_origins: str = _setting(
        "",
        "VIDEONET_WEB_ALLOWED_ORIGINS",
        "Origins besides the daemon's own whose pages may open Socket.IO connections, "
        "comma-separated (e.g. https://app.example.org); empty: the daemon's own origin only.",
    )
    log_level: str = _setting("info", "VIDEONET_LOG_LEVEL", "Log level: debug, info, warning.")

    @classmethod
    def load(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Self:
        """Settings from the environment, then ``overrides`` (None values are ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, str(f.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0-65535, not {self.port}")
        if not 4 <= self.bcrypt_rounds <= 16:
            raise SettingsError(f"bcrypt_rounds must be 4-16, not {self.bcrypt_rounds}")
        if self.token_lifetime < MIN_TOKEN_LIFETIME:
            raise SettingsError(f"token_lifetime must be at least {MIN_TOKEN_LIFETIME} seconds")
        if self.login_failures_max < 1 or self.login_failures_window < 1:
            raise SettingsError("login_failures_max and login_failures_window must be positive")
        if self.register_failures_max < 1 or self.register_failures_window < 1:
            raise SettingsError(
                "register_failures_max and register_failures_window must be positive"
            )
        if self.max_json_bytes < 1024:
            raise SettingsError("max_json_bytes must be at least 1024")
        if self.max_devices_per_user < 1:
            raise SettingsError("max_devices_per_user must be at least 1")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise SettingsError(f"TLS file not found: {path}")
        if self.metrics not in ("loopback", "on", "off"):
            raise SettingsError("metrics must be loopback, on or off")
        if self.log_format not in ("text", "json"):
            raise SettingsError("log_format must be text or json")
        if self.log_level.lower() not in LOG_LEVELS:
            raise SettingsError(
                f"log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}"
            )
        if self.database_url and not self.database_url.startswith(DATABASE_SCHEMES):
            raise SettingsError(
                f"database_url {self.database_url.split('@')[-1]!r} must start with sqlite:/// "
                "or postgresql://"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            raise SettingsError("redis_url must start with redis:// or rediss://")
        # Far below engine.io's 1 MB message cap (4 bytes per character at worst), so an
        # over-long text is refused with an error instead of silently dropped by engine.io.
        if not 1 <= self.chat_max_chars <= 100_000:
            raise SettingsError("chat_max_chars must be 1-100000")
        if not 0 < self.chat_rate < float("inf") or self.chat_burst < 1:
            raise SettingsError("chat_rate must be positive and chat_burst at least 1")
        if self.socket_event_rate <= 0 or self.socket_event_burst < 1:
            raise SettingsError("socket_event_rate must be positive and socket_event_burst >= 1")
        if self.socket_connect_timeout <= 0:
            raise SettingsError("socket_connect_timeout must be positive")
        if self.socket_ping_interval <= 0 or self.socket_ping_timeout <= 0:
            raise SettingsError("socket_ping_interval and socket_ping_timeout must be positive")
        if self.socket_handshake_rate <= 0:
            raise SettingsError("socket_handshake_rate must be positive")
        if self.http_body_timeout <= 0:
            raise SettingsError("http_body_timeout must be positive")
        if not 0 < self.http_header_timeout <= self.http_idle_timeout:
            raise SettingsError(
                "http_header_timeout must be positive and at most http_idle_timeout"
            )
        for name in (
            "trusted_proxy_hops",
            "max_invites_per_user",
            "socket_handshake_burst",
            "max_sockets_per_user",
            "max_rooms_per_user",
            "direct_rooms_per_day",
            "verdict_waiters_per_socket",
            "verdict_waiters_per_transfer",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.chat_sync_max < 1:
            raise SettingsError("chat_sync_max must be at least 1")
        if self.transfer_stall_timeout < 1:
            raise SettingsError("transfer_stall_timeout must be at least 1 second")
        if self.jwt_secret is not None:
            _check_jwt_secret(self.jwt_secret)
        self._validate_spool()
        self._validate_calls()
        self._validate_web()

    def _validate_calls(self) -> None:
        schemes_of = {"stun_urls": ("stun:", "stuns:"), "turn_urls": ("turn:", "turns:")}
        for name, schemes in schemes_of.items():
            for url in split_urls(getattr(self, name)):
                if not url.startswith(schemes):
                    raise SettingsError(f"{name}: {url!r} must start with {' or '.join(schemes)}")
        if split_urls(self.turn_urls) and not self.turn_secret:
            raise SettingsError("VIDEONET_TURN_URLS needs VIDEONET_TURN_SECRET")
        if self.turn_credential_lifetime < 60:
            raise SettingsError("turn_credential_lifetime must be at least 60 seconds")
        if self.call_signal_max_bytes < 1024:
            raise SettingsError("call_signal_max_bytes must be at least 1024")
        if min(self.call_signal_rate, self.call_signal_burst, self.call_max_participants) < 1:
            raise SettingsError(
                "call_signal_rate, call_signal_burst and call_max_participants must be positive"
            )
        if self.media_server_url:
            for name in ("media_server_url", "media_server_public_url", "media_server_admin_url"):
                url = getattr(self, name)
                if url and not url.startswith(("http://", "https://")):
                    raise SettingsError(f"{name} must start with http:// or https://")
            if not self.media_server_token_secret or not self.media_server_admin_key:
                raise SettingsError(
                    "VIDEONET_MEDIA_SERVER_URL needs VIDEONET_MEDIA_SERVER_TOKEN_SECRET and "
                    "VIDEONET_MEDIA_SERVER_ADMIN_KEY"
                )
            if self.media_server_admin_url and not self.media_server_admin_secret:
                raise SettingsError(
                    "VIDEONET_MEDIA_SERVER_ADMIN_URL needs VIDEONET_MEDIA_SERVER_ADMIN_SECRET"
                )
        if not 30 <= self.media_token_lifetime <= 86_400:
            raise SettingsError("media_token_lifetime must be 30-86400 seconds")
        if not 0.1 <= self.node_heartbeat_interval <= 3600:
            raise SettingsError("node_heartbeat_interval must be 0.1-3600 seconds")

    def _validate_spool(self) -> None:
        if self.spool_url is not None:
            bucket, _ = parse_spool_url(self.spool_url)
            if not bucket:
                raise SettingsError("spool_url must be s3://BUCKET or s3://BUCKET/PREFIX")
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            raise SettingsError("s3_endpoint must start with http:// or https://")
        low, high = protocol.SPOOL_SEGMENT_BYTES_MIN, protocol.SPOOL_SEGMENT_BYTES_MAX
        if not low <= self.spool_segment_bytes <= high:
            raise SettingsError(f"spool_segment_bytes must be {low}-{high}")

    def _validate_web(self) -> None:
        for origin in split_urls(self.web_allowed_origins):
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/"):
                raise SettingsError(
                    f"web_allowed_origins: {origin!r} must be an origin such as "
                    "https://app.example.org (scheme, host and port only)"
                )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else default_data_dir()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'videonet.db'}"


# Words of the placeholders in example files and tutorials: a secret holding one was copied,
# not generated (a random 48-byte key holds none of them by chance).
JWT_SECRET_PLACEHOLDERS = (
    "change", "replace", "example", "placeholder", "secret", "password", "your", "xxxx",
    "random", "insert", "todo",
)  # fmt: skip
JWT_SECRET_MIN_DISTINCT = 10


def _check_jwt_secret(secret: str) -> None:
    """Refuse a signing key anyone could guess: short, copied from an example, or repetitive."""
    how = "generate one with: openssl rand -base64 48"
    if len(secret.encode()) < 32:
        raise SettingsError(f"VIDEONET_JWT_SECRET must be at least 32 bytes; {how}")
    lowered = secret.lower()
    found = [word for word in JWT_SECRET_PLACEHOLDERS if word in lowered]
    if found:
        raise SettingsError(
            f"VIDEONET_JWT_SECRET looks like a placeholder (it says {found[0]!r}); {how}"
        )
    repeats = any(secret == (secret[:k] * len(secret))[: len(secret)] for k in range(1, 16))
    if len(set(secret)) < JWT_SECRET_MIN_DISTINCT or repeats:
        raise SettingsError(f"VIDEONET_JWT_SECRET has too little variety to be secret; {how}")


def parse_spool_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` as (bucket, prefix); ("", "") if it is not one."""
    if not url.startswith("s3://"):
        return "", ""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket or any(c in bucket for c in " ?#"):
        return "", ""
    return bucket, prefix.strip("/")


def split_urls(value: str) -> list[str]:
    """A comma-separated list of ICE server URLs, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse(name: str, type_name: str, raw: str) -> Any:
    try:
        if "int" in type_name:
            return int(raw)
        if "float" in type_name:
            return float(raw)
        if "bool" in type_name:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if "Path" in type_name:
            return Path(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot use {raw!r}") from exc
    return raw


def describe() -> list[tuple[str, str, str, str]]:
    """(name, default, environment variable, help) for every setting, for docs and `--help`."""
    rows = []
    for f in fields(Settings):
        default = "(generated)" if f.metadata["secret"] else repr(f.default)
        if f.metadata["shown"] is not None:
            default = f.metadata["shown"]
        rows.append((f.name, default, f.metadata["env"], f.metadata["help"]))
    return rows


def markdown_table() -> str:
    """The settings table in docs/settings.md (a test checks the doc still contains it)."""
    lines = ["| Setting | Default | Environment variable | Meaning |", "|---|---|---|---|"]
    for name, default, env, help_text in describe():
        lines.append(f"| `{name}` | `{default}` | `{env}` | {help_text} |")
    return "\n".join(lines)
