"""Account commands: register, login, logout, whoami."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from videonet_cli.commands import common
from videonet_cli.config import ENV_PASSWORD, StoredLogin, forget_login, save_login, save_server
from videonet_cli.errors import UsageError
from videonet_cli.i18n import _
from videonet_cli.render import console as output
from videonet_protocol import protocol

if TYPE_CHECKING:
    from videonet_cli.api import Api

JsonOption = typer.Option(False, "--json", help=_("Print the result as JSON."))
PasswordStdinOption = typer.Option(
    False, "--password-stdin", help=_("Read the password from standard input (first line).")
)


def password_rules() -> str:
    """The password's length rule, as people read it."""
    return _("{least} to {most} bytes (a long phrase is fine, accents count double)").format(
        least=protocol.PASSWORD_MIN_BYTES, most=protocol.PASSWORD_MAX_BYTES
    )


def check_new_password(password: str) -> str:
    """The daemon's length rule, checked here so a bad password costs no round trip."""
    size = len(password.encode("utf-8"))
    if not protocol.PASSWORD_MIN_BYTES <= size <= protocol.PASSWORD_MAX_BYTES:
        raise UsageError(
            _("the password must be {rules}; this one is {size} bytes").format(
                rules=password_rules(), size=size
            )
        )
    return password


def read_password(from_stdin: bool, confirm: bool) -> str:
    """From --password-stdin, VIDEONET_PASSWORD, or a hidden prompt — in that order.

    ``confirm`` (a new password) prints the rules before the prompt and checks them after.
    """
    if confirm:
        return check_new_password(_read_password(from_stdin, confirm=True))
    return _read_password(from_stdin, confirm=False)


def _read_password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError(_("--password-stdin: standard input held no password"))
        return password
    env = os.environ.get(ENV_PASSWORD)
    if env:
        return env
    if not sys.stdin.isatty():
        raise UsageError(_("no password: use --password-stdin or set VIDEONET_PASSWORD"))
    if not confirm:
        value: str = typer.prompt(_("Password"), hide_input=True)
        return value
    output.info(_("Choose a password: {rules}.").format(rules=password_rules()))
    while True:  # at a prompt, a retry is kinder than an exit; the rule is checked before repeat
        first: str = typer.prompt(_("Password"), hide_input=True)
        try:
            check_new_password(first)
        except UsageError as exc:
            output.error_line(exc.message)
            continue
        again: str = typer.prompt(_("Repeat for confirmation"), hide_input=True)
        if again == first:
            return first
        output.error_line(_("the two entries do not match; again"))


def register(
    ctx: typer.Context,
    email: str = typer.Option(..., "--email", help=_("Your email address (your login).")),
    username: str = typer.Option(..., "--username", help=_("The name others see.")),
    invite: str = typer.Option(..., "--invite", help=_("An invite code from a member.")),
    password_stdin: bool = PasswordStdinOption,
    json_out: bool = JsonOption,
) -> None:
    """`videonet register`: the account, its first login and this device's keys."""
    password = read_password(password_stdin, confirm=True)
    server = common.server_of(ctx)

    async def sign_up(api: Api) -> tuple[Any, Any, Any]:
        made = await api.auth.register(email, username, password, invite)
        # One command, one password prompt: the new account is logged in at once.
        session, device = await log_in(api, email, password)
        return made, session, device

    made, session, device = common.call(ctx, sign_up, authenticated=False)
    save_session(server, session)
    if json_out:
        output.print_json(
            {
                **made,
                "server": server,
                "expires_at": session["expires_at"],
                "device": device.as_json(),
            }
        )
        return
    output.info(
        _("Registered {username} <{email}> on {server}.").format(
            username=made["user"]["username"], email=made["user"]["email"], server=server
        )
    )
    output.info(_("Your invite code for others: {code}").format(code=made["invite_code"]))
    show_login(server, session, device)


def login(
    ctx: typer.Context,
    email: str = typer.Option(..., "--email", help=_("Your email address.")),
    password_stdin: bool = PasswordStdinOption,
    json_out: bool = JsonOption,
) -> None:
    """`videonet login`: a session, saved for the server."""
    password = read_password(password_stdin, confirm=False)
    server = common.server_of(ctx)
    result, device = common.call(ctx, lambda api: log_in(api, email, password), authenticated=False)
    save_session(server, result)
    if json_out:
        output.print_json(
            {
                "user": result["user"],
                "server": server,
                "expires_at": result["expires_at"],
                "device": device.as_json(),
            }
        )
        return
    show_login(server, result, device)


async def log_in(api: Api, email: str, password: str) -> tuple[Any, Any]:
    from videonet_cli.identity.core import publish_after_login

    result = await api.auth.login(email, password)
    # The first login makes this device's key pair; every login publishes its public key.
    return result, await publish_after_login(api.server, result["token"])


def save_session(server: str, result: Any) -> None:
    user = result["user"]
    save_login(server, StoredLogin(result["token"], user["username"], user["email"]))
    save_server(server)


def show_login(server: str, result: Any, device: Any) -> None:
    until = output.local_time(result["expires_at"])
    output.info(
        _("Logged in to {server} as {username} until {until}.").format(
            server=server, username=result["user"]["username"], until=until
        )
    )
    if device.recovery_key:
        from videonet_cli.render.devices_view import show_recovery_key

        output.info(_("Made your identity on this device: it certifies your other devices."))
        show_recovery_key(device.recovery_key)
    if device.error:
        output.warning(
            _("this device cannot send or receive encrypted files yet: {error}").format(
                error=device.error
            )
        )
    else:
        output.info(
            _("This device's fingerprint: {fingerprint}").format(fingerprint=device.fingerprint)
        )


def logout(
    ctx: typer.Context,
    keep_device: bool = typer.Option(
        False,
        "--keep-device",
        help=_("Keep this device on the account (its keys and its copy of your identity)."),
    ),
    json_out: bool = JsonOption,
) -> None:
    """`videonet logout`: the session ended, the token forgotten, the device removed."""
    from videonet_cli.identity.core import forget_this_device

    server = common.server_of(ctx)

    async def log_out(api: Api) -> bool:
        removed = False if keep_device else await forget_this_device(api)
        await api.auth.logout()
        return removed

    try:
        removed = common.call(ctx, log_out)
    finally:
        forget_login(server)
    if json_out:
        output.print_json({"server": server, "logged_out": True, "device_removed": removed})
        return
    output.info(_("Logged out of {server}.").format(server=server))
    if removed:
        output.info(_("Removed this device from the account, and its copy of your identity here."))


def whoami(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """`videonet whoami`: the account of the token."""
    user = common.call(ctx, lambda api: api.me())
    if json_out:
        output.print_json(user)
        return
    output.info(
        _("{username} <{email}> on {server}").format(
            username=user["username"], email=user["email"], server=common.server_of(ctx)
        )
    )


def register_commands(app: typer.Typer) -> None:
    """Attach the account commands to the root app (they are top-level verbs)."""
    app.command(
        "register",
        help=_("Create an account with an invite code, and log in to it on this device."),
    )(register)
    app.command("login", help=_("Log in and save the token (mode 0600) for this server."))(login)
    app.command(
        "logout",
        help=_(
            "End the session on the daemon and forget the saved token; unless --keep-device, "
            "also remove this device from the account and its copy of the account's identity."
        ),
    )(logout)
    app.command(
        "whoami", help=_("Show the account the saved token (or VIDEONET_TOKEN) belongs to.")
    )(whoami)
