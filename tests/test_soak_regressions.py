"""Regressions found by bench/soak.py (issue 25), each reproduced here without the soak.

- An abort heard by one daemon while the upload runs through another: the uploading daemon's
  end of upload wrote `uploaded` (or `interrupted`) over `aborted`, so an aborted transfer came
  back as resumable and kept its objects (soak seed 11: a one-off code mistyped, the sender
  exit 8, the transfer left `uploaded`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_object_storage import (  # noqa: F401  (fixtures)
    Cluster,
    cluster,
    on,
    past,
    sent_id,
    socket_call,
    store,
    wait_until,
)
from transfer_helpers import Background, make_room, member, random_file

from conftest import POSTGRES

MB = 1 << 20


def state_of(nodes: Cluster, transfer_id: str) -> str:
    import asyncpg

    async def read() -> str:
        conn = await asyncpg.connect(f"{POSTGRES}/{nodes.name}", timeout=10)
        try:
            return str(
                await conn.fetchval("SELECT state FROM transfers WHERE id = $1", transfer_id)
            )
        finally:
            await conn.close()

    return asyncio.run(read())


def test_abort_on_one_daemon_holds_while_the_upload_ends_on_another(
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    alice = member(cluster.a, tmp_path)
    room = make_room(cluster.a, alice)
    src = random_file(tmp_path / "aborted.bin", 12 * MB)
    # The upload runs through daemon B; the abort comes through daemon A.
    sender = Background(
        on(cluster.b, alice).cli, "send", room, str(src), "--json", "--no-wait",
        "--limit-rate", "3M",
    )  # fmt: skip
    sender.wait_for(past(0.2))
    tid = sent_id(sender.events)
    reply = socket_call(cluster.a, alice, room, "transfer:abort", {"transfer_id": tid})
    assert reply["ok"], reply
    sender.finish(timeout=60)  # however the sender takes it, its upload request ends on B
    # B's end of the upload must not bring the transfer back.
    assert wait_until(lambda: sender.proc.poll() is not None, 30)
    assert state_of(cluster, tid) == "aborted"
