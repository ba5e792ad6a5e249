"""`videonet-daemon`: serve, invite create, check. Thin: parse options, call the core, print."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
