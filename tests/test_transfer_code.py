"""`send --code` / `receive --code` with the real daemon and the real CLI.

The receiver talks to the daemon through the test's own proxy (tests/code_proxy.py), which
passes everything on or, playing a malicious daemon, changes one byte of one code message. A
right code moves the file; a wrong code or a changed message fails on both ends with exit 8
(`BAD_CODE`), one line, nothing in the receiver's directory, the transfer aborted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from code_proxy import TamperProxy
from transfer_helpers import (
    Background,
    Member,
    listening_receiver,
    make_room,
    member,
    random_file,
)
from videonet_cli.errors import ExitCode

from conftest import Cli, Daemon

pytestmark = pytest.mark.one_pass(
    "the code exchange stores nothing; its two-daemon case runs on PostgreSQL in test_code_scaleout"
)


def _pair(daemon: Daemon, tmp_path: Path) -> tuple[Member, Member, str]:
    ana = member(daemon, tmp_path)
    room = make_room(daemon, ana, "code")
    bo = member(daemon, tmp_path, room)
    return ana, bo, room


def _send(ana: Member, room: str, path: Path, *code: str) -> Background:
    return Background(
        ana.cli, "send", room, str(path), "--json", "--timeout", "60", "--code", *code
    )


def _receive(
    bo: Member, server: str, room: str, out: Path, code: str, *, env: bool = False
) -> tuple[int, str]:
    """``receive --code CODE``, or with ``env`` ``receive --code`` and VIDEONET_CODE (never on
    the command line, where every local user sees it in `ps`)."""
    out.mkdir(exist_ok=True)
    cli = Cli(server, bo.cli.config_dir, bo.cli.token)
    args = ["receive", room, "--out", str(out), "--yes", "--timeout", "60", "--code"]
    r = cli(*args, VIDEONET_CODE=code) if env else cli(*args, code)
    return r.code, r.err


def test_a_made_up_code_carries_the_transfer_through_the_proxy(
    daemon: Daemon, tmp_path: Path
) -> None:
    ana, bo, room = _pair(daemon, tmp_path)
    src = random_file(tmp_path / "take1.bin", 3 << 20)
    tx = _send(ana, room, src)
    code = tx.wait_for(lambda e: e.get("event") == "code")["code"]
    with TamperProxy(daemon.url) as proxy:
        status, err = _receive(bo, proxy.url, room, tmp_path / "in", code, env=True)
    assert status == 0, err
    assert (tmp_path / "in" / "take1.bin").read_bytes() == src.read_bytes()
    assert tx.finish() == 0, tx.stderr()
    result = tx.result()
    assert result["ok"] and [r["username"] for r in result["receivers"]] == [bo.user.username]
    # The daemon holds only ciphertext: no 64-byte piece of the file is in its spool copy.
    spooled = (daemon.data_dir / "spool" / f"{result['transfer_id']}.spool").read_bytes()
    plain = src.read_bytes()
    assert len(spooled) > len(plain)
    assert not any(plain[i : i + 64] in spooled for i in range(0, len(plain), 1 << 18))


def test_a_wrong_code_fails_on_both_ends_and_nothing_is_written(
    daemon: Daemon, tmp_path: Path
) -> None:
    ana, bo, room = _pair(daemon, tmp_path)
    src = random_file(tmp_path / "take2.bin", 1 << 20)
    tx = _send(ana, room, src, "7-guitar-meadow")
    offer = tx.wait_for(lambda e: e.get("event") == "offer")
    status, err = _receive(bo, daemon.url, room, tmp_path / "in", "7-guitar-meadows")
    assert status == ExitCode.BAD_CODE, err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "code" in err
    assert list((tmp_path / "in").iterdir()) == []
    assert tx.finish() == ExitCode.BAD_CODE
    assert "code" in tx.stderr() and tx.stderr().count("\n") == 1
    assert not (daemon.data_dir / "spool" / f"{offer['transfer_id']}.spool").exists()


@pytest.mark.parametrize("step", ["pake", "reply", "key"])
def test_a_daemon_that_changes_the_exchange_gets_nothing(
    daemon: Daemon, tmp_path: Path, step: str
) -> None:
    ana, bo, room = _pair(daemon, tmp_path)
    src = random_file(tmp_path / "take3.bin", 1 << 20)
    tx = _send(ana, room, src, "42-velvet-harbor")
    offer = tx.wait_for(lambda e: e.get("event") == "offer")
    with TamperProxy(daemon.url, tamper=step) as proxy:
        status, err = _receive(bo, proxy.url, room, tmp_path / "in", "42-velvet-harbor")
        tampered = proxy.tampered
    assert tampered == 1
    assert status == ExitCode.BAD_CODE, err
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert list((tmp_path / "in").iterdir()) == []  # no file, no .part
    assert tx.finish() == ExitCode.BAD_CODE, tx.stderr()
    assert not (daemon.data_dir / "spool" / f"{offer['transfer_id']}.spool").exists()


def test_only_the_code_receiver_counts(daemon: Daemon, tmp_path: Path) -> None:
    """Another member running plain `receive` in the room does not stand in for the code's
    receiver: the sender waits for the one who used the code, and counts only its verdict."""
    ana, bo, room = _pair(daemon, tmp_path)
    carl = member(daemon, tmp_path, room)
    src = random_file(tmp_path / "take4.bin", 1 << 20)
    # It waits 3 s, not 15, for a key the running sender must never wrap for it (a wrap would
    # come within a round trip of its request, which it sends as soon as it sees the offer).
    plain = listening_receiver(carl.cli, room, tmp_path / "carl", VIDEONET_KEY_WAIT="3")
    try:
        tx = _send(ana, room, src, "5-amber-quartz")
        tx.wait_for(lambda e: e.get("event") == "code")
        status, err = _receive(bo, daemon.url, room, tmp_path / "in", "5-amber-quartz")
        assert status == 0, err
        assert tx.finish() == 0, tx.stderr()
        receivers = [r["username"] for r in tx.result()["receivers"]]
        assert receivers == [bo.user.username]
        # The key was wrapped for nobody else: the plain receiver cannot open it.
        assert plain.finish() == ExitCode.KEY_UNAVAILABLE, plain.stderr()
        assert not (tmp_path / "carl" / "take4.bin").exists()
    finally:
        if plain.proc.poll() is None:
            plain.kill()


def test_bad_code_arguments_are_usage_errors(daemon: Daemon, tmp_path: Path) -> None:
    ana, bo, room = _pair(daemon, tmp_path)
    a = random_file(tmp_path / "a.bin", 10)
    b = random_file(tmp_path / "b.bin", 10)
    r = ana.cli("send", room, str(a), "--code=guitar-meadow")
    assert r.code == ExitCode.USAGE and "not a code" in r.err
    # Without a number it is not a code: `--code` alone makes one up, and this is a file.
    r = ana.cli("send", room, str(a), "--code", "guitar-meadow")
    assert r.code == ExitCode.NOT_FOUND and "no such file: guitar-meadow" in r.err
    r = ana.cli("send", room, str(a), str(b), "--code")
    assert r.code == ExitCode.USAGE and "one file" in r.err
    r = ana.cli("send", room, str(a), "--code", "--no-wait")
    assert r.code == ExitCode.USAGE and "wait" in r.err
    r = bo.cli("receive", room, "--yes", "--code", "0-x-y", "--out", str(tmp_path))
    assert r.code == ExitCode.USAGE


def test_a_failed_exchange_stops_the_upload(daemon: Daemon, tmp_path: Path) -> None:
    """The sender does not finish a slow upload for a code that is already spent."""
    ana, bo, room = _pair(daemon, tmp_path)
    src = random_file(tmp_path / "slow.bin", 3 << 20)
    tx = Background(
        ana.cli,
        "send",
        room,
        str(src),
        "--json",
        "--limit-rate",
        "100K",  # half a minute of upload: the wrong code comes long before its end
        "--code",
        "9-comet-lagoon",
    )
    offer = tx.wait_for(lambda e: e.get("event") == "offer")
    status, err = _receive(bo, daemon.url, room, tmp_path / "in", "9-comet-lagoon-x")
    assert status == ExitCode.BAD_CODE, err
    assert tx.finish() == ExitCode.BAD_CODE, tx.stderr()
    assert not any(e.get("event") == "uploaded" for e in tx.events)
    assert list((tmp_path / "in").iterdir()) == []
    assert not (daemon.data_dir / "spool" / f"{offer['transfer_id']}.spool").exists()


def test_a_seek_from_someone_the_file_is_not_for_does_not_spend_the_code(
    daemon: Daemon, tmp_path: Path
) -> None:
    """The number is public: a member the transfer is not offered to (`--to`) seeks with it;
    the daemon will not pass the sender's answer to them, and the code stays good."""
    import asyncio

    import socketio

    ana, bo, room = _pair(daemon, tmp_path)
    eve = member(daemon, tmp_path, room)
    src = random_file(tmp_path / "to-bo.bin", 1 << 20)
    tx = Background(
        ana.cli,
        "send",
        room,
        str(src),
        "--json",
        "--to",
        bo.user.username,
        "--code",
        "3-ivory-kayak",
    )
    tx.wait_for(lambda e: e.get("event") == "code")

    async def seek_as_eve() -> list[Any]:
        got: list[Any] = []
        client = socketio.AsyncClient()
        client.on("code:message", lambda data: got.append(data))
        await client.connect(daemon.url, auth={"token": eve.user.token}, transports=["websocket"])
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            seek = {"room_id": room, "nameplate": "3", "exchange": "a" * 32}
            assert (await client.call("code:seek", seek, timeout=10))["ok"]
            await asyncio.sleep(2)  # the sender's answer, if the daemon passed it on
        finally:
            await client.disconnect()
        return got

    assert asyncio.run(seek_as_eve()) == []
    status, err = _receive(bo, daemon.url, room, tmp_path / "in", "3-ivory-kayak")
    assert status == 0, err
    assert tx.finish() == 0, tx.stderr()
    assert (tmp_path / "in" / "to-bo.bin").read_bytes() == src.read_bytes()


def test_receive_code_alone_asks_for_it_without_echo(daemon: Daemon, tmp_path: Path) -> None:
    """Finding 9: `receive --code` with no value asks on the terminal and does not echo what is
    typed (the code before this change needed it on the command line, visible in `ps`)."""
    from terminal import finish, spawn

    ana, bo, room = _pair(daemon, tmp_path)
    src = random_file(tmp_path / "typed.bin", 20_000)
    tx = _send(ana, room, src)
    code = tx.wait_for(lambda e: e.get("event") == "code")["code"]
    out = tmp_path / "in"
    out.mkdir()
    child = spawn(bo.cli.env(), "receive", room, "--out", str(out), "--yes", "--code")
    child.expect("Code: ")
    child.sendline(code)
    assert finish(child) == 0
    assert code not in child.before
    assert (out / "typed.bin").read_bytes() == src.read_bytes()
    assert tx.finish() == 0, tx.stderr()
    r = bo.cli("receive", room, "--out", str(out), "--yes", "--code")  # no terminal, no env
    assert r.code == ExitCode.USAGE and "VIDEONET_CODE" in r.err


def test_a_member_who_knows_the_number_cannot_spend_the_code(
    daemon: Daemon, tmp_path: Path
) -> None:
    """Finding 9, without `--to`: carol, another member of the room, listens while bob uses the
    code and then seeks with its number (as if she had read it over bob's shoulder), ready to
    answer any exchange with a guess. She hears no seek (the daemon passes seeks only to the
    sender that opened the number), and the sender, whose one exchange is bob's, does not
    answer her: bob gets the file. The code before this change showed bob's seek, number and
    all, to the whole room, and answered up to 8 seekers at once: carol's wrong guess spent the
    code, the sender aborted, and bob's receive failed ("the sender aborted this transfer")."""
    import asyncio
    import base64
    import secrets

    import socketio

    ana, bo, room = _pair(daemon, tmp_path)
    cy = member(daemon, tmp_path, room)
    src = random_file(tmp_path / "for-bo.bin", 1 << 20)
    tx = _send(ana, room, src, "6-lunar-pepper")
    tx.wait_for(lambda e: e.get("event") == "code")
    out = tmp_path / "in"
    out.mkdir()
    heard: dict[str, list[Any]] = {"code:seek": [], "code:message": []}

    async def carol() -> None:
        client = socketio.AsyncClient()
        for event, got in heard.items():
            client.on(event, got.append)
        await client.connect(daemon.url, auth={"token": cy.user.token}, transports=["websocket"])
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            # bob's exchange is under way: the sender's first message reached him, his reply
            # waits in the proxy.
            assert await asyncio.to_thread(proxy.held.wait, 60)
            exchange = secrets.token_hex(16)
            seek = {"room_id": room, "nameplate": "6", "exchange": exchange}
            assert (await client.call("code:seek", seek, timeout=10))["ok"]
            for _ in range(20):  # 2 s for the sender's answer; a wrong guess to any
                await asyncio.sleep(0.1)
                for pake in [m for m in heard["code:message"] if m.get("step") == "pake"]:
                    guess = {
                        "transfer_id": pake["transfer_id"],
                        "to_user_id": pake["from_user_id"],
                        "exchange": exchange,
                        "step": "reply",
                        "body": base64.b64encode(secrets.token_bytes(65)).decode("ascii"),
                    }
                    await client.call("code:message", guess, timeout=10)
                    heard["code:message"].remove(pake)
        finally:
            proxy.release.set()
            await client.disconnect()

    with TamperProxy(daemon.url, hold="reply") as proxy:
        bob = Background(
            Cli(proxy.url, bo.cli.config_dir, bo.cli.token),
            "receive", room, "--out", str(out), "--yes", "--json", "--timeout", "60",
            "--code", VIDEONET_CODE="6-lunar-pepper",
        )  # fmt: skip
        asyncio.run(carol())
        assert bob.finish() == 0, bob.stderr()
    assert heard == {"code:seek": [], "code:message": []}
    assert (out / "for-bo.bin").read_bytes() == src.read_bytes()
    assert tx.finish() == 0, tx.stderr()
    assert [r["username"] for r in tx.result()["receivers"]] == [bo.user.username]


def test_a_seeker_that_never_replies_holds_the_code_only_for_a_while(
    daemon: Daemon, tmp_path: Path
) -> None:
    """carol learned the number before bob used it and seeks first, then stays silent (no
    reply, so no guess). She holds the code only `REPLY_WAIT_SECONDS`: bob, seeking meanwhile,
    gets it after that and receives the file; carol's late reply counts for nothing."""
    import asyncio
    import base64
    import secrets

    import socketio

    ana, bo, room = _pair(daemon, tmp_path)
    cy = member(daemon, tmp_path, room)
    src = random_file(tmp_path / "late.bin", 1 << 20)
    tx = _send(ana, room, src, "8-quiet-otter")
    tx.wait_for(lambda e: e.get("event") == "code")
    out = tmp_path / "in"
    out.mkdir()
    pakes: list[Any] = []

    async def carol_then_bob() -> int:
        client = socketio.AsyncClient()
        client.on("code:message", pakes.append)
        await client.connect(daemon.url, auth={"token": cy.user.token}, transports=["websocket"])
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            exchange = secrets.token_hex(16)
            seek = {"room_id": room, "nameplate": "8", "exchange": exchange}
            assert (await client.call("code:seek", seek, timeout=10))["ok"]
            for _ in range(100):
                if pakes:
                    break
                await asyncio.sleep(0.1)
            assert pakes, "the sender answers the first seeker"
            bob = Background(
                bo.cli, "receive", room, "--out", str(out), "--yes", "--json", "--timeout",
                "90", "--code", VIDEONET_CODE="8-quiet-otter",
            )  # fmt: skip
            code = await asyncio.to_thread(bob.finish, 120)
            late = {
                "transfer_id": pakes[0]["transfer_id"],
                "to_user_id": pakes[0]["from_user_id"],
                "exchange": exchange,
                "step": "reply",
                "body": base64.b64encode(secrets.token_bytes(65)).decode("ascii"),
            }
            await client.call("code:message", late, timeout=10)
            return code
        finally:
            await client.disconnect()

    assert asyncio.run(carol_then_bob()) == 0
    assert (out / "late.bin").read_bytes() == src.read_bytes()
    assert tx.finish() == 0, tx.stderr()
    assert [r["username"] for r in tx.result()["receivers"]] == [bo.user.username]


def test_a_sender_waiting_for_its_code_to_be_used_hears_at_once_that_the_daemon_is_gone(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d = daemon_factory()
    ana, _bo, room = _pair(d, tmp_path)
    tx = _send(ana, room, random_file(tmp_path / "wait.bin", 1 << 20))
    tx.wait_for(lambda e: e.get("event") == "uploaded")  # now waiting for the code's receiver
    d.proc.kill()
    d.proc.wait()
    assert tx.finish(timeout=30) == ExitCode.UNREACHABLE
    assert tx.stderr().strip().splitlines() == ["Error: the connection to the daemon was lost"]
