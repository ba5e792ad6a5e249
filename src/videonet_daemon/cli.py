"""`videonet-daemon`: serve, invite create, check. Thin: parse options, call the core, print."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from videonet_daemon import __version__, protocol
from videonet_daemon.durations import parse_duration
from videonet_daemon.settings import Settings, SettingsError

app = typer.Typer(
    name="videonet-daemon",
    help="The VideoNet daemon: accounts, rooms, realtime chat, file relay and call signaling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
invite_app = typer.Typer(help="Manage invite codes offline (directly in the database).")
app.add_typer(invite_app, name="invite")
users_app = typer.Typer(
    help="List, disable, enable users and reset passwords (directly in the database)."
)
app.add_typer(users_app, name="users")

DataDirOption = typer.Option(
    None, "--data-dir", help="Data directory [env: VIDEONET_DAEMON_DATA_DIR]."
)
DatabaseOption = typer.Option(
    None, "--database-url", help="Database URL [env: VIDEONET_DATABASE_URL]."
)
RedisOption = typer.Option(
    None, "--redis-url", help="Redis URL for several daemons [env: VIDEONET_REDIS_URL]."
)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.load(**overrides)
    except SettingsError as exc:
        typer.secho(f"Error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


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


@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Address [env: VIDEONET_HOST]."),
    port: int | None = typer.Option(
        None, "--port", help="Port; 0 picks a free one [env: VIDEONET_PORT]."
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
    redis_url: str | None = RedisOption,
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Serve HTTPS with this PEM certificate [env: VIDEONET_TLS_CERT]."
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", help="The certificate's PEM key [env: VIDEONET_TLS_KEY]."
    ),
    log_format: str | None = typer.Option(
        None, "--log-format", help="text or json [env: VIDEONET_LOG_FORMAT]."
    ),
) -> None:
    """Run the daemon until SIGTERM or Ctrl-C."""
    from videonet_daemon.server import configure_logging
    from videonet_daemon.server import serve as run_server

    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_format=log_format,
    )
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run_server(settings))
    except OSError as exc:
        typer.secho(
            f"Error: cannot listen on {settings.host}:{settings.port}: {exc}", fg="red", err=True
        )
        raise typer.Exit(1) from exc


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@invite_app.command("create")
def invite_create(
    uses: int = typer.Option(1, "--uses", min=1, max=protocol.INVITE_MAX_USES, help="Uses."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime, e.g. 7d or 12h."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Make an invite code offline and print it."""
    from videonet_daemon import invites
    from videonet_daemon.db.engine import Database
    from videonet_daemon.db.migrations import migrate

    expires_in = _duration(expires) if expires else None
    settings = _settings(data_dir=data_dir, database_url=database_url)

    async def make() -> str:
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(settings.resolved_database_url)
        try:
            await migrate(db)
            return await invites.create_standalone(db, uses, expires_in)
        finally:
            await db.close()

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
) -> None:
    """Validate the settings and check that the database (and Redis, if set) answer."""
    from videonet_daemon.cluster import ping_redis
    from videonet_daemon.db.engine import Database

    settings = _settings(data_dir=data_dir, database_url=database_url, redis_url=redis_url)
    where = settings.resolved_database_url.split("@")[-1]

    async def probe_database() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await db.fetch_one("SELECT 1")
        finally:
            await db.close()

    try:
        asyncio.run(probe_database())
    except Exception as exc:
        typer.secho(f"Error: database {where} unreachable: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"ok: database {where} answers")
    if settings.redis_url:
        try:
            asyncio.run(ping_redis(settings.redis_url))
        except Exception as exc:
            typer.secho(f"Error: Redis {settings.redis_url} unreachable: {exc}", fg="red", err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"ok: Redis {settings.redis_url} answers")
    typer.echo("ok: settings valid")


# What the `daemon` extra brings (pyproject.toml); the light CLI install has none of them.
DAEMON_EXTRA_MODULES = ("sqlalchemy", "aiosqlite", "bcrypt", "jwt", "prometheus_client", "redis")


def _missing_daemon_extra() -> str | None:
    import importlib.util

    for module in DAEMON_EXTRA_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


def main() -> None:
    missing = _missing_daemon_extra()
    if missing and not {"-h", "--help", "--version"} & set(sys.argv[1:]):
        typer.secho(
            f"Error: videonet-daemon needs the daemon extra ({missing} is not installed): "
            "pip install 'videonet[daemon]'",
            fg="red",
            err=True,
        )
        sys.exit(1)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
