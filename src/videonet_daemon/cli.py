"""`videonet-daemon`: serve, invite create, check. Thin: parse options, call the core, print."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import typer

from videonet_daemon import __version__
from videonet_daemon.settings import Settings, SettingsError
from videonet_protocol import protocol
from videonet_protocol.adapters.aiohttp import defer_certificates
from videonet_protocol.adapters.typer import Command, plain_help, quick_coercion
from videonet_protocol.command_line import exit_without_teardown, plain_error, run_click
from videonet_protocol.durations import parse_duration
from videonet_protocol.install_hint import install_command

app = typer.Typer(
    name="videonet-daemon",
    help="The VideoNet daemon: accounts, rooms, realtime chat, file relay and call signaling.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: option text is never parsed as markup, and each option shows its metavar,
    # environment variable and default instead of a Python type.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
invite_app = typer.Typer(help="Manage invite codes offline (directly in the database).")
app.add_typer(invite_app, name="invite")
users_app = typer.Typer(
    help="List, disable, enable users and reset passwords (directly in the database)."
)
app.add_typer(users_app, name="users")

# The environment variables are read by Settings.load (settings.py); help names them here.
DataDirOption = typer.Option(
    None,
    "--data-dir",
    metavar="DIR",
    help="Data directory [env: VIDEONET_DAEMON_DATA_DIR; default: the user data dir].",
)
DatabaseOption = typer.Option(
    None,
    "--database-url",
    metavar="URL",
    help="sqlite:///PATH or postgresql://… [env: VIDEONET_DATABASE_URL; default: SQLite in "
    "the data dir].",
)
RedisOption = typer.Option(
    None,
    "--redis-url",
    metavar="URL",
    help="redis://… for several daemons [env: VIDEONET_REDIS_URL; default: none].",
)
SpoolUrlOption = typer.Option(
    None,
    "--spool-url",
    metavar="URL",
    help="s3://BUCKET/PREFIX: transfer bytes in object storage shared by every daemon "
    "[env: VIDEONET_SPOOL_URL; default: the local spool directory].",
)


SQLITE_WORKER_JOIN_SECONDS = 0.5


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.load(**overrides)
    except SettingsError as exc:
        plain_error(str(exc))
        raise typer.Exit(2) from exc


def _first_line(exc: BaseException) -> str:
    """An error as one line: SQLAlchemy's "(Background on this error at: …)" link dropped."""
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    text = str(exc).strip() or exc.__class__.__name__
    line = text.splitlines()[0]
    line = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", line)
    return re.sub(r"^\(sqlalchemy[^)]*\)\s*", "", line).strip()


def _database_problem(settings: Settings) -> str | None:
    """None if the database answers; otherwise one line saying where and why not."""
    from videonet_daemon.db.engine import Database

    async def probe() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await db.fetch_one("SELECT 1")
        except Exception:
            await db.close()
            # aiosqlite answers a failed connection's close from its worker thread; let that
            # finish while this loop can still take the answer, or a traceback follows the line.
            await asyncio.to_thread(_join_sqlite_workers)
            raise
        await db.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"cannot reach the database at {_where(settings)}: {_first_line(exc)}"
    return None


def _join_sqlite_workers() -> None:
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name and thread is not threading.current_thread():
            thread.join(timeout=SQLITE_WORKER_JOIN_SECONDS)


def _where(settings: Settings) -> str:
    return settings.resolved_database_url.split("@")[-1]


def _require_database(settings: Settings) -> None:
    """Before listening: an unreachable database is said as such, not as "cannot listen"."""
    if settings.database_url is None:
        return  # SQLite in the data dir: created on start, errors there are the data dir's
    problem = _database_problem(settings)
    if problem:
        plain_error(problem)
        raise typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"videonet-daemon {__version__} (protocol {protocol.PROTOCOL_VERSION})")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """The VideoNet daemon."""


def _skip_unused_optional_modules(settings: Settings) -> None:
    """Mark missing what python-socketio and python-engineio import when it is installed but
    this daemon will not use: `requests` (their synchronous client's) always, the Redis clients
    (their Redis manager's) when no Redis URL is set. Both libraries treat them as optional
    (ImportError is caught), and so does `outages`. Measured: ~0.12 CPU-s off each start
    (docs/performance.md, "The suite")."""
    unused = ["requests"] if settings.redis_url else ["requests", "redis", "valkey"]
    for name in unused:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "not installed"


@app.command()
def serve(
    host: str | None = typer.Option(
        None,
        "--host",
        metavar="ADDRESS",
        help=f"Address to listen on [env: VIDEONET_HOST; default: {protocol.DEFAULT_HOST}].",
    ),
    port: int | None = typer.Option(
        None,
        "--port",
        metavar="PORT",
        help=f"Port; 0 picks a free one [env: VIDEONET_PORT; default: {protocol.DEFAULT_PORT}].",
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    redis_url: str | None = RedisOption,
    spool_url: str | None = SpoolUrlOption,
    tls_cert: Path | None = typer.Option(
        None,
        "--tls-cert",
        metavar="PEM",
        help="Serve HTTPS with this PEM certificate [env: VIDEONET_TLS_CERT; default: none].",
    ),
    tls_key: Path | None = typer.Option(
        None,
        "--tls-key",
        metavar="PEM",
        help="The certificate's PEM key [env: VIDEONET_TLS_KEY; default: none].",
    ),
    log_format: LogFormat | None = typer.Option(
        None,
        "--log-format",
        help="Log lines on standard error [env: VIDEONET_LOG_FORMAT; default: text].",
    ),
) -> None:
    """Run the daemon until SIGTERM or Ctrl-C."""
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        spool_url=spool_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_format=log_format.value if log_format else None,
    )
    _skip_unused_optional_modules(settings)
    # aiohttp's default client TLS contexts read the CA bundle when first used, not at import.
    defer_certificates()
    # No cycle collection while the server's modules are imported: ~260 collections that find
    # no garbage worth it, 0.1 CPU-s of every start (docs/performance.md, "The suite"). What
    # the imports built lives as long as the process: frozen out of later collections.
    gc.disable()
    try:
        from videonet_daemon.server import configure_logging
        from videonet_daemon.server import serve as run_server
    finally:
        gc.freeze()
        gc.enable()

    configure_logging(settings.log_level, settings.log_format)
    _require_database(settings)
    try:
        with _schema_checked():
            asyncio.run(run_server(settings))
    except OSError as exc:
        plain_error(f"cannot listen on {settings.host}:{settings.port}: {exc}")
        raise typer.Exit(1) from exc


# docs/exit-codes.md: the database was written by a newer release (nothing was changed).
EXIT_SCHEMA_TOO_NEW = 3


@contextlib.contextmanager
def _schema_checked() -> Iterator[None]:
    from videonet_daemon.db.migrations import SchemaTooNew

    try:
        yield
    except SchemaTooNew as exc:
        plain_error(str(exc))
        raise typer.Exit(EXIT_SCHEMA_TOO_NEW) from exc


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@invite_app.command("create")
def invite_create(
    uses: int = typer.Option(1, "--uses", min=1, max=protocol.INVITE_MAX_USES, help="Uses."),
    expires: str | None = typer.Option(
        None, "--expires", metavar="DURATION", help="Lifetime, e.g. 7d or 12h."
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Make an invite code offline and print it."""
    from videonet_daemon import invites
    from videonet_daemon.db.engine import Database
    from videonet_daemon.db.migrations import migrate

    expires_in = _duration(expires) if expires else None
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _require_database(settings)

    async def make() -> str:
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(settings.resolved_database_url)
        try:
            await migrate(db)
            return await invites.create_standalone(db, uses, expires_in)
        finally:
            await db.close()

    with _schema_checked():
        typer.echo(asyncio.run(make()))


JsonOption = typer.Option(False, "--json", help="Print JSON.")
T = TypeVar("T")


def _operate(
    data_dir: Path | None, database_url: str | None, work: Callable[[Any], Awaitable[T]]
) -> T:
    """Run one operator action against the configured database (the daemon may be running);
    its errors become one line and exit 1 (4 for something that does not exist)."""
    from videonet_daemon.admin import NoSuchThing, OperatorError
    from videonet_daemon.db.engine import Database
    from videonet_daemon.db.migrations import migrate

    settings = _settings(data_dir=data_dir, database_url=database_url)

    async def go() -> T:
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(settings.resolved_database_url)
        try:
            await migrate(db)
            return await work(db)
        finally:
            await db.close()

    try:
        with _schema_checked():
            return asyncio.run(go())
    except OperatorError as exc:
        typer.secho(f"Error: {exc}", fg="red", err=True)
        raise typer.Exit(4 if isinstance(exc, NoSuchThing) else 1) from exc


def _print_rows(rows: list[dict[str, Any]], keys: list[str], json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo("\t".join(keys))
    for row in rows:
        typer.echo("\t".join("-" if row[k] is None else str(row[k]) for k in keys))


@invite_app.command("list")
def invite_list(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    json_out: bool = JsonOption,
) -> None:
    """List every invite (the bootstrap one too) with its maker and uses left."""
    from videonet_daemon import admin

    rows = _operate(data_dir, database_url, admin.list_invites)
    keys = ["code", "created_by", "uses_left", "max_uses", "expires_at", "usable"]
    _print_rows(rows, keys, json_out)


@invite_app.command("revoke")
def invite_revoke(
    code: str = typer.Argument(..., help="The invite code."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Take every use left of an invite away."""
    from videonet_daemon import admin

    _operate(data_dir, database_url, lambda db: admin.revoke_invite(db, code))
    typer.echo(f"revoked {code}")


@users_app.command("list")
def users_list(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    json_out: bool = JsonOption,
) -> None:
    """List the users, whether each is disabled, and their open sessions."""
    from videonet_daemon import admin

    rows = _operate(data_dir, database_url, admin.list_users)
    _print_rows(rows, ["id", "username", "email", "created_at", "disabled", "sessions"], json_out)


UserArgument = typer.Argument(..., help="Username, email or user id.", metavar="USER")


@users_app.command("disable")
def users_disable(
    who: str = UserArgument,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """End the user's sessions now and refuse their logins until enabled again."""
    from videonet_daemon import admin

    user = _operate(data_dir, database_url, lambda db: admin.set_disabled(db, who, True))
    typer.echo(f"disabled {user['username']} (id {user['id']}); their sessions have ended")


@users_app.command("enable")
def users_enable(
    who: str = UserArgument,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Let a disabled user log in again."""
    from videonet_daemon import admin

    user = _operate(data_dir, database_url, lambda db: admin.set_disabled(db, who, False))
    typer.echo(f"enabled {user['username']} (id {user['id']})")


@users_app.command("reset-password")
def users_reset_password(
    who: str = UserArgument,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Give the user a new random password (printed once) and end their sessions."""
    from videonet_daemon import admin

    settings = _settings(data_dir=data_dir, database_url=database_url)
    user, password = _operate(
        data_dir,
        database_url,
        lambda db: admin.reset_password(db, who, settings.bcrypt_rounds),
    )
    typer.echo(f"temporary password for {user['username']} ({user['email']}): {password}")


@app.command()
def check(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    redis_url: str | None = RedisOption,
    spool_url: str | None = SpoolUrlOption,
) -> None:
    """Validate the settings and check that the database (and Redis, and the object storage
    bucket, if set) answer."""
    from videonet_daemon.cluster import ping_redis

    settings = _settings(
        data_dir=data_dir, database_url=database_url, redis_url=redis_url, spool_url=spool_url
    )
    problem = _database_problem(settings)
    if problem:
        plain_error(problem)
        raise typer.Exit(1)
    typer.echo(f"ok: database {_where(settings)} answers")
    if settings.redis_url:
        try:
            asyncio.run(ping_redis(settings.redis_url))
        except Exception as exc:
            plain_error(f"cannot reach Redis at {settings.redis_url}: {_first_line(exc)}")
            raise typer.Exit(1) from exc
        typer.echo(f"ok: Redis {settings.redis_url} answers")
    if settings.spool_url:
        from videonet_daemon.relay.objects import probe

        problem = asyncio.run(probe(settings))
        if problem:
            plain_error(problem)
            raise typer.Exit(1)
        typer.echo(f"ok: object storage {settings.spool_url} (write, read, delete)")
    typer.echo("ok: settings valid")


@app.command()
def backup(
    dest: Path = typer.Argument(..., metavar="DEST", help="A new or empty directory."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    spool_url: str | None = SpoolUrlOption,
) -> None:
    """Back up the database (SQLite: consistent while the daemon serves; PostgreSQL: pg_dump),
    the JWT key and node id beside it, and the local spool (docs/deploy/backup.md)."""
    from videonet_daemon import backup as backups

    settings = _settings(data_dir=data_dir, database_url=database_url, spool_url=spool_url)
    _require_database(settings)
    try:
        done = backups.backup(settings, dest)
    except backups.BackupError as exc:
        plain_error(str(exc))
        raise typer.Exit(1) from exc
    typer.echo(f"backed up {done.engine} (schema {done.schema_version}) to {done.path}")
    typer.echo(f"kept beside it: {', '.join(done.kept) or 'nothing'}")
    if settings.jwt_secret:
        typer.echo("the JWT key is VIDEONET_JWT_SECRET: keep your environment file too")
    typer.echo(f"spool: {done.spool}")


@app.command()
def restore(
    src: Path = typer.Argument(..., metavar="SRC", help="A directory made by `backup`."),
    force: bool = typer.Option(
        False, "--force", help="Replace a data dir or database that already holds something."
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    spool_url: str | None = SpoolUrlOption,
) -> None:
    """Put a backup back (the daemon must be stopped); then start the daemon as usual."""
    from videonet_daemon import backup as backups

    settings = _settings(data_dir=data_dir, database_url=database_url, spool_url=spool_url)
    _require_database(settings)
    try:
        done = backups.restore(settings, src, force)
    except backups.BackupError as exc:
        plain_error(str(exc))
        raise typer.Exit(1) from exc
    typer.echo(f"restored {done.engine} (schema {done.schema_version}) into {done.path}")
    typer.echo(f"restored beside it: {', '.join(done.kept) or 'nothing'}")
    typer.echo(f"spool: {done.spool}")


# What the `daemon` extra brings (pyproject.toml); the light CLI install has none of them.
DAEMON_EXTRA_MODULES = (
    "sqlalchemy",
    "aiosqlite",
    "bcrypt",
    "jwt",
    "prometheus_client",
    "redis",
    "obstore",
)


def _missing_daemon_extra() -> str | None:
    import importlib.util

    for module in DAEMON_EXTRA_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors one line and exit 2, Ctrl-C 130 (command_line.run_click)."""
    args = sys.argv[1:] if argv is None else argv
    missing = _missing_daemon_extra()
    if missing and not {"-h", "--help", "--version"} & set(args):
        typer.secho(
            f"Error: videonet-daemon needs the daemon extra ({missing} is not installed): "
            f"{install_command('daemon')}",
            fg="red",
            err=True,
        )
        sys.exit(1)
    code = run_click(build_command(), "videonet-daemon", argv)
    if argv is None:  # the `videonet-daemon` process itself, not a caller importing this
        exit_without_teardown(code)
    sys.exit(code)


def build_command() -> Command:
    """The click command tree of ``videonet-daemon``, as run, completed and documented."""
    return quick_coercion(plain_help(typer.main.get_command(app)))
