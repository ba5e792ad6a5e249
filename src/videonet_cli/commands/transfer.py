"""`videonet send`, `videonet receive` and `videonet verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from videonet_cli import output, session
from videonet_cli.errors import CliError, MismatchError, UsageError
from videonet_cli.progress import TransferView, choose_mode

JsonOption = typer.Option(False, "--json", help="Print JSON lines: events, then one result.")
NoProgressOption = typer.Option(False, "--no-progress", help="No progress bars.")
RoomArgument = typer.Argument(..., help="Room id or unique name.", metavar="ROOM")
DEFAULT_SEND_TIMEOUT = 600.0
DEFAULT_RECEIVE_TIMEOUT = 600.0


_RATE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_rate(text: str) -> int:
    """'500K', '20M', '1G' or plain bytes, per second (K/M/G are 1024-based, as in curl)."""
    value = text.strip().upper().removesuffix("B").removesuffix("/S")
    unit = value[-1:] if value[-1:] in _RATE_UNITS else ""
    number = value[: len(value) - len(unit)]
    try:
        rate = int(float(number) * _RATE_UNITS[unit])
    except ValueError as exc:
        raise UsageError(f"--limit-rate: {text!r} is not a rate like 500K or 20M") from exc
    if rate < 1024:
        raise UsageError("--limit-rate must be at least 1K")
    return rate


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{nbytes} B"


def send(
    ctx: typer.Context,
    room: str = RoomArgument,
    files: list[Path] = typer.Argument(..., help="Files to send.", metavar="FILE..."),
    to: str | None = typer.Option(None, "--to", help="Offer only to this member (username)."),
    timeout: float = typer.Option(
        DEFAULT_SEND_TIMEOUT,
        "--timeout",
        min=1,
        help="Seconds to wait for the receivers' verdicts after the upload.",
    ),
    limit_rate: str | None = typer.Option(
        None, "--limit-rate", help="Upload at most this many bytes a second (e.g. 500K, 20M)."
    ),
    json_out: bool = JsonOption,
    no_progress: bool = NoProgressOption,
) -> None:
    """Send files to a room (or one member); exit 0 only when every receiver's SHA-256 matched."""
    from videonet_cli.transfer.sender import send_files

    rate = parse_rate(limit_rate) if limit_rate else None
    api = session.client(ctx)
    with TransferView(choose_mode(json_out, no_progress)) as view:
        outcomes = session.run(
            send_files(api.server, api.require_token(), room, files, to, timeout, view, rate)
        )
        for outcome in outcomes:
            view.result(outcome.as_dict())
    failures = []
    for outcome in outcomes:
        who = ", ".join(v.username for v in outcome.verdicts if v.ok) or "nobody"
        if not json_out:
            mark = "✓" if outcome.ok else "✗"
            rate = outcome.as_dict()["mb_per_s"]
            output.info(
                f"{mark} {outcome.name}: {_human(outcome.size)} sha256 {outcome.sha256[:16]}… "
                f"verified by {who}" + (f" ({rate} MB/s)" if rate else "")
            )
        problems = [f"{v.username}: {v.reason}" for v in outcome.verdicts if not v.ok]
        problems += [f"{name}: no verdict within {timeout:g} s" for name in outcome.missing]
        if not outcome.verdicts and not outcome.missing:
            problems.append(f"no receiver took it within {timeout:g} s")
        if problems:
            failures.append(f"{outcome.name} ({'; '.join(problems)})")
    if failures:
        raise MismatchError("not verified: " + "; ".join(failures))


def receive(
    ctx: typer.Context,
    room: str = RoomArgument,
    out: Path = typer.Option(Path("."), "--out", "-o", help="Directory to write files into."),
    count: int = typer.Option(1, "--count", "-n", min=1, help="Files to receive before exiting."),
    timeout: float = typer.Option(
        DEFAULT_RECEIVE_TIMEOUT, "--timeout", min=1, help="Seconds to wait for an offer."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    json_out: bool = JsonOption,
    no_progress: bool = NoProgressOption,
) -> None:
    """Receive offered files into --out; each is renamed into place only once its hash matched."""
    from videonet_cli.transfer.receiver import receive_files

    api = session.client(ctx)
    with TransferView(choose_mode(json_out, no_progress)) as view:
        outcomes = session.run(
            receive_files(
                api.server, api.require_token(), room, out, count, timeout, overwrite, view
            )
        )
        for outcome in outcomes:
            view.result(outcome.as_dict())
    if not json_out:
        for outcome in outcomes:
            if outcome.ok:
                rate = outcome.as_dict()["mb_per_s"]
                output.info(
                    f"✓ {outcome.path}: {_human(outcome.size)} from {outcome.sender}, "
                    f"sha256 {outcome.sha256[:16]}… verified" + (f" ({rate} MB/s)" if rate else "")
                )
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise CliError("; ".join(f"{o.name}: {o.reason}" for o in failed))


def verify(
    ctx: typer.Context,
    original: Path = typer.Argument(..., help="The original file."),
    received: Path = typer.Argument(..., help="The file to compare with it."),
    remote: bool = typer.Option(
        False,
        "--remote",
        help="Let the daemon hash both (POST /api/video/verify) instead of hashing here.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare two files by size and SHA-256; exit 0 if they are the same, 1 if not."""
    from videonet_cli.transfer.verify import compare_local, compare_on_daemon

    if remote:

        async def call() -> dict[str, Any]:
            async with session.client(ctx, authenticated=True) as api:
                return await compare_on_daemon(api, original, received)

        result = session.run(call())
    else:
        result = compare_local(original, received)
    if json_out:
        output.print_json(result)
    else:
        for key in ("original", "received"):
            item = result[key]
            output.info(f"{key:9} {item['sha256']}  {_human(item['size']):>9}  {item['path']}")
    if not result["match"]:
        raise MismatchError("the files differ")
    if not json_out:
        output.info("✓ identical")


def register_commands(app: typer.Typer) -> None:
    app.command("send")(send)
    app.command("receive")(receive)
    app.command("verify")(verify)
