"""The daemon's API as typed calls: ``api.rooms.join(ref)``, ``api.transfers.upload(...)``.

The only module of the CLI that knows the wire paths (from `videonet_protocol.protocol`). An `Api`
is opened with ``async with`` inside a command's one ``asyncio.run``; `Api.socket` gives the
Socket.IO connection with the same server and token.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from videonet_cli.api.http import ERROR_BODY_MAX, HttpClient, decode_response
from videonet_cli.api.keys import KeysApi
from videonet_cli.api.socket import SocketClient
from videonet_cli.errors import AuthError, DaemonRefused, NotFoundError, UnreachableError
from videonet_cli.i18n import _
from videonet_protocol import protocol

if TYPE_CHECKING:  # the receiver's (http.client): imported when a download starts
    from videonet_cli.api.blocking import BodyReader


class AuthApi:
    """Accounts: register, log in and out, who am I."""

    def __init__(self, http: HttpClient) -> None:
        self._http = http

    async def register(
        self, email: str, username: str, password: str, invite_code: str
    ) -> protocol.RegisterResponse:
        body = protocol.RegisterRequest(
            email=email, username=username, password=password, invite_code=invite_code
        )
        result: protocol.RegisterResponse = await self._http.post(protocol.API_REGISTER, body)
        return result

    async def login(self, email: str, password: str) -> protocol.LoginResponse:
        body = protocol.LoginRequest(email=email, password=password)
        result: protocol.LoginResponse = await self._http.post(protocol.API_LOGIN, body)
        return result

    async def logout(self) -> None:
        await self._http.post(protocol.API_LOGOUT)

    async def me(self) -> protocol.UserInfo:
        user: protocol.UserInfo = await self._http.get(protocol.API_ME)
        return user


class InvitesApi:
    """Invite codes: make one, list yours."""

    def __init__(self, http: HttpClient) -> None:
        self._http = http

    async def create(
        self, uses: int, expires_in: int | None = None, room_id: str | None = None
    ) -> protocol.InviteInfo:
        body: dict[str, Any] = {"uses": uses}
        if expires_in is not None:
            body["expires_in"] = expires_in
        if room_id is not None:
            body["room_id"] = room_id
        invite: protocol.InviteInfo = await self._http.post(protocol.API_INVITES, body)
        return invite

    async def redeem(self, code: str) -> protocol.InvitedRoom:
        """Join the room of an invite made for one, with the account logged in."""
        body = protocol.RedeemRequest(invite_code=code)
        room: protocol.InvitedRoom = await self._http.post(protocol.API_INVITE_REDEEM, body)
        return room

    async def list(self) -> list[dict[str, Any]]:
        invites: list[dict[str, Any]] = await self._http.get(protocol.API_INVITES)
        return invites


class RoomsApi:
    """Rooms by id; `resolve` turns what a user typed (an id or a unique name) into one."""

    def __init__(self, http: HttpClient) -> None:
        self._http = http

    async def create(
        self, name: str, description: str = "", private: bool = False
    ) -> protocol.RoomInfo:
        body = {"name": name, "description": description, "private": private}
        room: protocol.RoomInfo = await self._http.post(protocol.API_ROOM_CREATE, body)
        return room

    async def join(self, room_id: str) -> protocol.RoomInfo:
        room: protocol.RoomInfo = await self._http.post(
            protocol.API_ROOM_JOIN.format(room_id=room_id)
        )
        return room

    async def leave(self, room_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._http.post(
            protocol.API_ROOM_LEAVE.format(room_id=room_id)
        )
        return result

    async def members(self, room_id: str) -> list[protocol.MemberInfo]:
        rows: list[protocol.MemberInfo] = await self._http.get(
            protocol.API_ROOM_MEMBERS.format(room_id=room_id)
        )
        return rows

    async def messages(self, room_id: str, limit: int) -> protocol.HistoryPage:
        path = protocol.API_ROOM_MESSAGES.format(room_id=room_id)
        page: protocol.HistoryPage = await self._http.get(path, params={"limit": str(limit)})
        return page

    async def post_message(self, room_id: str, text: str) -> protocol.ChatMessage:
        path = protocol.API_ROOM_MESSAGES.format(room_id=room_id)
        message: protocol.ChatMessage = await self._http.post(path, {"text": text})
        return message

    async def direct(self, username: str) -> protocol.RoomInfo:
        """The direct room of you and ``username``, made by the daemon on first use."""
        body = protocol.DirectRoomRequest(username=username)
        try:
            room: protocol.RoomInfo = await self._http.post(protocol.API_ROOM_DIRECT, body)
        except DaemonRefused as exc:
            if exc.code == protocol.ErrorCode.NOT_FOUND:
                raise NotFoundError(
                    _("{message} on this server").format(message=exc.message)
                ) from exc
            raise
        return room

    async def resolve(self, ref: str) -> protocol.RoomInfo:
        """A room by id or by name, looked up by the daemon (no list is downloaded); ``@USER``
        is the direct room of you and that account (made on first use)."""
        if ref.startswith(protocol.DIRECT_ROOM_PREFIX):
            return await self.direct(ref.removeprefix(protocol.DIRECT_ROOM_PREFIX))
        try:
            room: protocol.RoomInfo = await self._http.get(
                protocol.API_ROOM_LOOKUP, params={"ref": ref}
            )
        except DaemonRefused as exc:
            if exc.code == protocol.ErrorCode.NOT_FOUND:
                raise NotFoundError(
                    _("{message} (`videonet rooms list` shows the rooms you can join)").format(
                        message=exc.message
                    )
                ) from exc
            raise
        return room

    async def rename(self, room_id: str, name: str) -> protocol.RoomInfo:
        path = protocol.API_ROOM_RENAME.format(room_id=room_id)
        room: protocol.RoomInfo = await self._http.post(path, {"name": name})
        return room

    async def delete(self, room_id: str) -> dict[str, Any]:
        path = protocol.API_ROOM.format(room_id=room_id)
        result: dict[str, Any] = await self._http.request("DELETE", path)
        return result

    async def invite(self, room_id: str, username: str) -> protocol.MemberInfo:
        path = protocol.API_ROOM_INVITE.format(room_id=room_id)
        member: protocol.MemberInfo = await self._http.post(path, {"username": username})
        return member

    async def page(
        self, limit: int, cursor: str | None = None, mine: bool = False
    ) -> protocol.RoomsPage:
        """One page of the rooms you may see, in name order."""
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if mine:
            params["mine"] = "1"
        page: protocol.RoomsPage = await self._http.get(protocol.API_ROOMS, params=params)
        return page

    # Last in the class: once defined, `list` in an annotation here would mean this method.
    async def list(self, limit: int | None = None, mine: bool = False) -> list[protocol.RoomInfo]:
        """Rooms you may see: the first `limit`, or every one (page by page) when None."""
        rooms: list[protocol.RoomInfo] = []
        cursor: str | None = None
        while True:
            want = (
                protocol.ROOMS_PAGE_MAX
                if limit is None
                else min(limit - len(rooms), protocol.ROOMS_PAGE_MAX)
            )
            page = await self.page(want, cursor, mine)
            rooms.extend(page["rooms"])
            cursor = page["next_cursor"]
            if cursor is None or (limit is not None and len(rooms) >= limit):
                return rooms


class TransfersApi:
    """The data plane of transfers and the verify endpoint: streamed bodies, no total timeout."""

    def __init__(self, stream: HttpClient) -> None:
        self._stream = stream

    @property
    def server(self) -> str:
        return self._stream.server

    def unreachable(self, exc: BaseException) -> UnreachableError:
        return self._stream.unreachable(exc)

    async def upload(
        self, transfer_id: str, offset: int, length: int, body: AsyncIterable[bytes]
    ) -> None:
        """PUT the bytes from ``offset`` on; connection errors (OSError, TimeoutError) are
        left to the caller."""
        url = protocol.API_TRANSFER_DATA.format(transfer_id=transfer_id)
        headers = {"Content-Length": str(length), "Content-Type": "application/octet-stream"}
        async with self._stream.stream(
            "PUT", url, params={"offset": str(offset)}, headers=headers, body=body
        ) as resp:
            decode_response(resp.status, await resp.read(ERROR_BODY_MAX))

    def download(self, transfer_id: str, offset: int) -> BodyReader:
        """The bytes from ``offset`` on, for a worker thread to open and read (api/blocking.py:
        the receiver's bytes do not pass through the event loop)."""
        from videonet_cli.api.blocking import BodyReader

        url = protocol.API_TRANSFER_DATA.format(transfer_id=transfer_id)
        return BodyReader(self._stream.server, url, self._stream.token, offset)

    async def header(self, transfer_id: str) -> protocol.TransferHeader:
        """The sender's signed header and seal (base64), as the daemon stored them."""
        path = protocol.API_TRANSFER_HEADER.format(transfer_id=transfer_id)
        found: protocol.TransferHeader = await self._stream.get(path)
        return found

    async def verify(self, original: Path, received: Path) -> dict[str, Any]:
        """Stream both files to the daemon, which hashes them as they arrive."""
        with original.open("rb") as fa, received.open("rb") as fb:
            form = Multipart(
                [("original_file", original.name, fa), ("received_file", received.name, fb)]
            )
            headers = {"Content-Type": form.content_type, "Content-Length": str(form.size)}
            try:
                async with self._stream.stream(
                    "POST", protocol.API_VERIFY, headers=headers, body=form.body()
                ) as resp:
                    result: dict[str, Any] = decode_response(
                        resp.status, await resp.read(ERROR_BODY_MAX)
                    )
            except (OSError, TimeoutError) as exc:
                raise self.unreachable(exc) from exc
        return result


class Multipart:
    """A multipart/form-data body of files, streamed (RFC 7578), its length known ahead."""

    PIECE_BYTES = 1 << 20

    def __init__(self, files: list[tuple[str, str, IO[bytes]]]) -> None:
        self.boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._parts = []
        for field, filename, handle in files:
            # The HTML standard's escaping of a file name in a form's part header.
            quoted = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
            head = (
                f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="{field}"; filename="{quoted}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            size = os.fstat(handle.fileno()).st_size
            self._parts.append((head, handle, size))
        self._end = f"--{self.boundary}--\r\n".encode()
        self.size = sum(len(h) + n + 2 for h, _f, n in self._parts) + len(self._end)

    async def body(self) -> AsyncIterator[bytes]:
        for head, handle, size in self._parts:
            yield head
            left = size
            while left:  # no more than fstat said: the declared length holds
                piece = handle.read(min(left, self.PIECE_BYTES))
                if not piece:
                    raise OSError(f"{getattr(handle, 'name', 'a file')} shrank while being read")
                left -= len(piece)
                yield piece
            yield b"\r\n"
        yield self._end


PROBE_TIMEOUT_SECONDS = 5.0


class CallsApi:
    """What calls fetch over HTTP: a recording made on the media server."""

    def __init__(self, http: HttpClient) -> None:
        self._stream = http

    async def recording_file(self, room_id: str, recording_id: str, name: str, to: Path) -> None:
        """Download one post-processed file of a call recorded on the media server."""
        url = protocol.API_CALL_RECORDING_FILE.format(
            room_id=room_id, recording_id=recording_id, name=name
        )
        try:
            async with self._stream.stream("GET", url) as resp:
                if resp.status >= 400:
                    decode_response(resp.status, await resp.read(ERROR_BODY_MAX))
                with to.open("wb") as out:
                    async for chunk in resp.chunks():
                        out.write(chunk)
        except (OSError, TimeoutError) as exc:
            raise self._stream.unreachable(exc) from exc


class Api:
    """One daemon, one token: the typed endpoints, a streaming session and the socket."""

    def __init__(self, server: str, token: str | None = None) -> None:
        self.server = server
        self.token = token
        self._http = HttpClient(server, token)
        # Transfers stream for minutes: no total limit, only a stall limit.
        self._stream = HttpClient(server, token, timeout=None)
        self.auth = AuthApi(self._http)
        self.invites = InvitesApi(self._http)
        self.rooms = RoomsApi(self._http)
        self.keys = KeysApi(self._http)
        self.transfers = TransfersApi(self._stream)
        self.calls = CallsApi(self._stream)

    async def __aenter__(self) -> Self:
        self._http.open()
        self._stream.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stream.close()
        await self._http.close()

    async def me(self) -> protocol.UserInfo:
        return await self.auth.me()

    async def probe(self) -> None:
        """Raise UnreachableError (with its hint) unless the daemon answers its health check."""
        async with HttpClient(self.server, None, timeout=PROBE_TIMEOUT_SECONDS) as http:
            await http.get(protocol.API_HEALTH)

    def require_token(self) -> str:
        if not self.token:
            raise AuthError()
        return self.token

    def socket(self) -> SocketClient:
        """A new, not yet connected Socket.IO client (``async with`` connects and closes it)."""
        return SocketClient(self.server, self.require_token())
