"""A one-off code across two daemons (PostgreSQL + Redis): the sender on A, the receiver on B.

The exchange's messages are Socket.IO emits to a user's channel and to a room's, which the
Redis manager carries to the other daemon; nothing of the exchange is stored on either.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_scaleout import Cluster, cluster, on  # noqa: F401  (the fixture)
from transfer_helpers import Background, make_room, member, random_file

pytestmark = pytest.mark.one_pass("uses PostgreSQL itself in every pass")


def test_a_code_between_daemons(cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    ana = member(cluster.a, tmp_path)
    room = make_room(cluster.a, ana)
    bo = on(cluster.b, member(cluster.a, tmp_path, room))
    src = random_file(tmp_path / "across.bin", 2 << 20)
    tx = Background(ana.cli, "send", room, str(src), "--json", "--timeout", "60", "--code")
    code = tx.wait_for(lambda e: e.get("event") == "code")["code"]
    (tmp_path / "in").mkdir()
    r = bo.cli("receive", room, "--out", str(tmp_path / "in"), "--yes", "--code", code)
    assert r.code == 0, r.err
    assert tx.finish() == 0, tx.stderr()
    assert (tmp_path / "in" / "across.bin").read_bytes() == src.read_bytes()
