"""`videonet rooms list|create|join|leave|members`. ROOM is an id or a unique name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from videonet_cli.commands import common
from videonet_cli.commands.completion import complete_room
from videonet_cli.render import console as output

if TYPE_CHECKING:
    from videonet_cli.api import Api

app = typer.Typer(help="List, create, join and leave rooms.", no_args_is_help=True)

JsonOption = typer.Option(False, "--json", help="Print JSON.")
RoomArgument = typer.Argument(
    ..., help="Room id or unique name.", metavar="ROOM", autocompletion=complete_room
)

ROOM_COLUMNS = [
    ("name", "Name"),
    ("id", "Id"),
    ("participant_count", "Members"),
    ("is_joined", "Joined"),
    ("creator_name", "Creator"),
    ("description", "Description"),
]


@app.command("list")
def list_(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """List all rooms, with member counts and whether you are in each."""
    rooms = common.call(ctx, lambda api: api.rooms.list())
    if json_out:
        output.print_json(rooms)
    else:
        output.print_table(rooms, ROOM_COLUMNS, title="Rooms")


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Room name."),
    description: str = typer.Option("", "--description", "-d", help="What the room is for."),
    json_out: bool = JsonOption,
) -> None:
    """Create a room (you join it at once)."""
    room = common.call(ctx, lambda api: api.rooms.create(name, description))
    if json_out:
        output.print_json(room)
    else:
        output.info(f"Created room {room['name']} ({room['id']}).")


@app.command("join")
def join(ctx: typer.Context, room: str = RoomArgument, json_out: bool = JsonOption) -> None:
    """Join a room."""

    async def join_room(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        return await api.rooms.join(found["id"])

    joined = common.call(ctx, join_room)
    if json_out:
        output.print_json(joined)
    else:
        output.info(f"Joined {joined['name']} ({joined['participant_count']} members).")


@app.command("leave")
def leave(ctx: typer.Context, room: str = RoomArgument, json_out: bool = JsonOption) -> None:
    """Leave a room."""

    async def leave_room(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        result = await api.rooms.leave(found["id"])
        return {**result, "name": found["name"]}

    result = common.call(ctx, leave_room)
    if json_out:
        output.print_json(result)
    elif result["left"]:
        output.info(f"Left {result['name']}.")
    else:
        output.info(f"You were not in {result['name']}.")


@app.command("members")
def members(ctx: typer.Context, room: str = RoomArgument, json_out: bool = JsonOption) -> None:
    """List a room's members (members only)."""

    async def list_members(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        return await api.rooms.members(found["id"])

    rows = common.call(ctx, list_members)
    if json_out:
        output.print_json(rows)
    else:
        columns = [("username", "User"), ("user_id", "Id"), ("joined_at", "Joined")]
        output.print_table(rows, columns, title="Members")
