"""Property tests (hypothesis): file names, the JSON boundary, and every client event's payload.

Names: whatever a sender offers, the receiver's name is a plain file name within the limits, and
the daemon either refuses an offered name or accepts only a plain one. Payloads: any JSON sent as
any client event gets an ack with `ok`, and a refusal's code is one of protocol.ErrorCode, never
internal_error; the daemon keeps serving.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkit import Accounts, create_room
from videonet_cli.errors import UsageError
from videonet_cli.transfer.files import PART_SUFFIX, safe_name
from videonet_daemon.errors import InvalidJson, InvalidText, ValidationError
from videonet_daemon.relay.service import check_name
from videonet_daemon.validation import check_value
from videonet_protocol import protocol

from conftest import Daemon, User, http, start_daemon

CLIENT_EVENTS = [
    protocol.EV_ROOM_JOIN,
    protocol.EV_ROOM_LEAVE,
    protocol.EV_TRANSFER_LISTEN,
    protocol.EV_TRANSFER_OFFER,
    protocol.EV_TRANSFER_ACCEPT,
    protocol.EV_TRANSFER_SEAL,
    protocol.EV_TRANSFER_VERDICT,
    protocol.EV_TRANSFER_DECLINE,
    protocol.EV_TRANSFER_ABORT,
    protocol.EV_CHAT_SEND,
    protocol.EV_PRESENCE_WHO,
    protocol.EV_CALL_JOIN,
    protocol.EV_CALL_LEAVE,
    protocol.EV_CALL_OFFER,
    protocol.EV_CALL_ANSWER,
    protocol.EV_CALL_CANDIDATE,
    protocol.EV_CALL_HANGUP,
    "no:such:event",
]
ERROR_CODES = {str(c) for c in protocol.ErrorCode} - {protocol.ErrorCode.INTERNAL}

# Text with everything a hostile client can put in JSON: controls, surrogates, astral planes.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)


# --- names ------------------------------------------------------------------------------------


@given(any_text)
@settings(max_examples=400)
def test_the_receivers_name_is_always_a_plain_file_name(offered: str) -> None:
    try:
        safe = safe_name(offered)
    except UsageError:
        return
    name = safe.name
    assert name not in ("", ".", "..")
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name)
    assert len((name + PART_SUFFIX).encode("utf-8", "surrogatepass")) <= 255


@given(any_text)
@settings(max_examples=400)
def test_the_daemon_accepts_only_plain_names(offered: str) -> None:
    try:
        name = check_name(offered)
    except ValidationError:
        return
    assert name not in (".", "..") and "/" not in name and "\\" not in name
    assert len(name.encode("utf-8", "surrogatepass")) <= protocol.TRANSFER_NAME_MAX_BYTES


@given(json_values)
@settings(max_examples=400)
def test_the_json_boundary_refuses_only_with_its_own_errors(value: Any) -> None:
    try:
        check_value(value)
    except (InvalidJson, InvalidText):
        return
    # What passes can be stored as UTF-8.
    import json

    json.dumps(value, ensure_ascii=False).encode("utf-8")


# --- socket payloads --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, User, str]]:
    root = tmp_path_factory.mktemp("fuzzed")
    d = start_daemon(
        root / "data", VIDEONET_SOCKET_EVENT_RATE="10000", VIDEONET_SOCKET_EVENT_BURST="10000"
    )
    try:
        alice = Accounts(d, root).make()
        room = create_room(d, alice)
        yield d, alice, room
    finally:
        d.stop()


async def _send(daemon: Daemon, token: str, room: str, calls: list[tuple[str, Any]]) -> list[Any]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
    try:
        assert (await client.call(protocol.EV_ROOM_JOIN, {"room_id": room}, timeout=10))["ok"]
        acks = []
        for event, payload in calls:
            if isinstance(payload, dict) and payload.pop("_room", False):
                payload["room_id"] = room  # sometimes aim at the real room, past the guard
            acks.append(await client.call(event, payload, timeout=10))
        return acks
    finally:
        await client.disconnect()


payloads = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["room_id", "text", "name", "size", "transfer_id", "sha256", "to",
                         "sdp", "candidate", "reason", "since", "done", "_room"]),
        json_values,
        max_size=6,
    ),
)  # fmt: skip


@given(st.lists(st.tuples(st.sampled_from(CLIENT_EVENTS), payloads), min_size=1, max_size=8))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_payload_on_any_event_gets_a_clean_answer(
    fuzzed: tuple[Daemon, User, str], calls: list[tuple[str, Any]]
) -> None:
    daemon, alice, room = fuzzed
    acks = asyncio.run(_send(daemon, alice.token, room, calls))
    for (event, _), ack in zip(calls, acks, strict=True):
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), (event, ack)
        if not ack["ok"]:
            assert ack["error"]["code"] in ERROR_CODES, (event, ack)
            assert isinstance(ack["error"]["message"], str)
    assert http("GET", daemon.api(protocol.API_HEALTH))[0] == 200


def test_no_traceback_in_the_fuzzed_daemons_log(fuzzed: tuple[Daemon, User, str]) -> None:
    daemon = fuzzed[0]
    log = Path(daemon.data_dir.parent / f"{daemon.data_dir.name}.log").read_text()
    assert "Traceback" not in log
