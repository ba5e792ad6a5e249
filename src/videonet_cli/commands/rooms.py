"""`videonet rooms list|create|join|leave|members|invite|rename|delete`. ROOM is an id or a name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from videonet_cli.commands import common
from videonet_cli.commands.completion import complete_room
from videonet_cli.errors import CliError
from videonet_cli.i18n import N_, _, ngettext
from videonet_cli.render import console as output

if TYPE_CHECKING:
    from videonet_cli.api import Api

app = typer.Typer(
    help=_("List, create, join, leave, rename and delete rooms."), no_args_is_help=True
)

JsonOption = typer.Option(False, "--json", help=_("Print JSON."))
RoomArgument = typer.Argument(
    ..., help=_("Room id or unique name."), metavar="ROOM", autocompletion=complete_room
)
LIST_DEFAULT = 50

# Headers translated where the table is shown.
ROOM_COLUMNS = [
    ("name", N_("Name")),
    ("id", N_("Id")),
    ("participant_count", N_("Members")),
    ("is_joined", N_("Joined")),
    ("private", N_("Private")),
    ("creator_name", N_("Creator")),
    ("description", N_("Description")),
]


def say(message: str) -> None:
    """A line that holds names other people chose: printed as text, never as Rich markup."""
    output.console().print(message, markup=False, highlight=False)


@app.command(
    "list", help=_("List the rooms you can see, with member counts and whether you are in each.")
)
def list_(
    ctx: typer.Context,
    limit: int = typer.Option(
        LIST_DEFAULT, "--limit", min=1, help=_("Show at most this many rooms (in name order).")
    ),
    all_: bool = typer.Option(False, "--all", help=_("Show every room, however many.")),
    mine: bool = typer.Option(False, "--mine", help=_("Only the rooms you are a member of.")),
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
    output.print_table(rooms, [(k, _(h)) for k, h in ROOM_COLUMNS], title=_("Rooms"))
    if more:
        say(
            ngettext(
                "Showing the first {n} room; --all shows every one, --limit more.",
                "Showing the first {n} rooms; --all shows every one, --limit more.",
                limit,
            ).format(n=limit)
        )


@app.command("create", help=_("Create a room (you join it at once)."))
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help=_("Room name (unique on the daemon, whatever the case).")),
    description: str = typer.Option("", "--description", "-d", help=_("What the room is for.")),
    private: bool = typer.Option(
        False,
        "--private",
        help=_("Only members see the room; add people with `videonet rooms invite`."),
    ),
    json_out: bool = JsonOption,
) -> None:
    """Create a room (you join it at once)."""
    room = common.call(ctx, lambda api: api.rooms.create(name, description, private))
    if json_out:
        output.print_json(room)
    else:
        made = (
            _("Created private room {name} ({id}).")
            if room.get("private")
            else _("Created room {name} ({id}).")
        )
        say(made.format(name=room["name"], id=room["id"]))


@app.command("rename", help=_("Rename a room (its creator only)."))
def rename(
    ctx: typer.Context,
    room: str = RoomArgument,
    new_name: str = typer.Argument(..., help=_("The room's new name."), metavar="NEW_NAME"),
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
        say(_("Renamed {old} to {new}.").format(old=result["old_name"], new=result["name"]))


@app.command("delete", help=_("Delete a room with its messages and transfers (its creator only)."))
def delete(
    ctx: typer.Context,
    room: str = RoomArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help=_("Do not ask for confirmation.")),
    json_out: bool = JsonOption,
) -> None:
    """Delete a room with its messages and transfers (its creator only)."""

    async def delete_room(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        question = _("Delete {name} and all its messages and files for everyone?")
        if not yes and not common.confirm(question.format(name=found["name"])):
            raise CliError(_("cancelled: the room was not deleted"))
        result = await api.rooms.delete(found["id"])
        return {**result, "name": found["name"]}

    result = common.call(ctx, delete_room)
    if json_out:
        output.print_json(result)
    else:
        say(_("Deleted {name}.").format(name=result["name"]))


@app.command("invite", help=_("Add someone to a room you are in (the way into a private room)."))
def invite(
    ctx: typer.Context,
    room: str = RoomArgument,
    username: str = typer.Argument(..., help=_("The account to add."), metavar="USER"),
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
        say(
            _("Added {user} (#{id}) to {room}.").format(
                user=result["username"], id=result["user_id"], room=result["room"]
            )
        )


@app.command("join", help=_("Join a room."))
def join(ctx: typer.Context, room: str = RoomArgument, json_out: bool = JsonOption) -> None:
    """Join a room."""

    async def join_room(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        return await api.rooms.join(found["id"])

    joined = common.call(ctx, join_room)
    if json_out:
        output.print_json(joined)
    else:
        count = joined["participant_count"]
        output.info(
            ngettext("Joined {name} ({n} member).", "Joined {name} ({n} members).", count).format(
                name=joined["name"], n=count
            )
        )


@app.command("leave", help=_("Leave a room."))
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
        output.info(_("Left {name}.").format(name=result["name"]))
    else:
        output.info(_("You were not in {name}.").format(name=result["name"]))


@app.command("members", help=_("List a room's members (members only)."))
def members(ctx: typer.Context, room: str = RoomArgument, json_out: bool = JsonOption) -> None:
    """List a room's members (members only)."""

    async def list_members(api: Api) -> Any:
        found = await api.rooms.resolve(room)
        return await api.rooms.members(found["id"])

    rows = common.call(ctx, list_members)
    if json_out:
        output.print_json(rows)
    else:
        columns = [("username", _("User")), ("user_id", _("Id")), ("joined_at", _("Joined"))]
        output.print_table(rows, columns, title=_("Members"))
