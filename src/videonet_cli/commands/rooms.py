"""`videonet rooms list|create|join|leave|members|invite|rename|delete`. ROOM is an id or a name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from videonet_cli.commands import common
from videonet_cli.commands.completion import complete_room
from videonet_cli.errors import CliError
from videonet_cli.render import console as output

if TYPE_CHECKING:
    from videonet_cli.api import Api

app = typer.Typer(help="List, create, join, leave, rename and delete rooms.", no_args_is_help=True)

JsonOption = typer.Option(False, "--json", help="Print JSON.")
RoomArgument = typer.Argument(
    ..., help="Room id or unique name.", metavar="ROOM", autocompletion=complete_room
)
LIST_DEFAULT = 50

ROOM_COLUMNS = [
    ("name", "Name"),
    ("id", "Id"),
    ("participant_count", "Members"),
    ("is_joined", "Joined"),
    ("private", "Private"),
    ("creator_name", "Creator"),
    ("description", "Description"),
]


def say(message: str) -> None:
    """A line that holds names other people chose: printed as text, never as Rich markup."""
    output.console.print(message, markup=False, highlight=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: int = typer.Option(
        LIST_DEFAULT, "--limit", min=1, help="Show at most this many rooms (in name order)."
    ),
    all_: bool = typer.Option(False, "--all", help="Show every room, however many."),
    mine: bool = typer.Option(False, "--mine", help="Only the rooms you are a member of."),
    json_out: bool = JsonOption,
) -> None:
    """List the rooms you can see, with member counts and whether you are in each."""

    async def list_rooms(api: Api) -> Any:
        # One more than shown, to tell whether the list goes on.
        rooms = await api.rooms.list(None if all_ else limit + 1, mine=mine)
        return rooms

    rooms = common.call(ctx, list_rooms)
    more = not all_ and len(rooms) > limit
    rooms = rooms if all_ else rooms[:limit]
    if json_out:
        output.print_json(rooms)
        return
    output.print_table(rooms, ROOM_COLUMNS, title="Rooms")
    if more:
        say(f"Showing the first {limit} rooms; --all shows every one, --limit more.")


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Room name (unique on the daemon, whatever the case)."),
    description: str = typer.Option("", "--description", "-d", help="What the room is for."),
    private: bool = typer.Option(
        False,
        "--private",
        help="Only members see the room; add people with `videonet rooms invite`.",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Create a room (you join it at once)."""
    room = common.call(ctx, lambda api: api.rooms.create(name, description, private))
    if json_out:
        output.print_json(room)
    else:
        kind = "private room" if room.get("private") else "room"
        say(f"Created {kind} {room['name']} ({room['id']}).")


@app.command("rename")
def rename(
    ctx: typer.Context,
    room: str = RoomArgument,
    new_name: str = typer.Argument(..., help="The room's new name.", metavar="NEW_NAME"),
    json_out: bool = JsonOption,
) -> None:
    """Rename a room (its creator only)."""

    async def rename_room(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        renamed = await api.rooms.rename(found["id"], new_name)
        return {**renamed, "old_name": found["name"]}

    result = common.call(ctx, rename_room)
    if json_out:
        output.print_json(result)
    else:
        say(f"Renamed {result['old_name']} to {result['name']}.")


@app.command("delete")
def delete(
    ctx: typer.Context,
    room: str = RoomArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = JsonOption,
) -> None:
    """Delete a room with its messages and transfers (its creator only)."""

    async def delete_room(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        if not yes and not typer.confirm(
            f"Delete {found['name']} and all its messages and files for everyone?"
        ):
            raise CliError("cancelled: the room was not deleted")
        result = await api.rooms.delete(found["id"])
        return {**result, "name": found["name"]}

    result = common.call(ctx, delete_room)
    if json_out:
        output.print_json(result)
    else:
        say(f"Deleted {result['name']}.")


@app.command("invite")
def invite(
    ctx: typer.Context,
    room: str = RoomArgument,
    username: str = typer.Argument(..., help="The account to add.", metavar="USER"),
    json_out: bool = JsonOption,
) -> None:
    """Add someone to a room you are in (the way into a private room)."""

    async def invite_member(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        member = await api.rooms.invite(found["id"], username)
        return {**member, "room": found["name"]}

    result = common.call(ctx, invite_member)
    if json_out:
        output.print_json(result)
    else:
        say(f"Added {result['username']} (#{result['user_id']}) to {result['room']}.")


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
