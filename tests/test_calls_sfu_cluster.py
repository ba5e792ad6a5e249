"""Two daemons on one PostgreSQL and one Redis share one Janus: members who reached different
daemons meet in the same VideoRoom (the pin is kept in Redis; the room's secret and the tokens
are derived from the secret every daemon has).

Everything runs in a network namespace the test makes, with private PostgreSQL and Redis
servers started inside it (tests/fault_servers.py); skipped, saying why, without them.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import janus_server
import netns
from calls_helpers import make_clip
from fault_servers import PrivatePostgres, PrivateRedis, Unavailable
from media_env import skip_unless_namespaces
from test_calls_sfu_media import receiving_all
from test_outages import cluster_env, new_database
from transfer_helpers import Background, make_room, member

from conftest import http, start_daemon

pytestmark = pytest.mark.one_pass("private PostgreSQL and Redis of its own")


def test_members_on_two_daemons_meet_in_one_videoroom(tmp_path: Path) -> None:
    skip_unless_namespaces()
    if (reason := janus_server.unavailable()) is not None:
        pytest.skip(reason)
    with netns.namespace() as ns:
        try:
            pg, redis = PrivatePostgres(), PrivateRedis()
        except Unavailable as exc:
            pytest.skip(str(exc))
        pg.init()
        pg.start()
        redis.start()
        janus = janus_server.start_janus(tmp_path / "janus", ns.address)
        daemons = []
        calls: list[Background] = []
        try:
            args = ("--database-url", new_database(pg), "--redis-url", redis.url)
            env = {**cluster_env(), **janus.daemon_env()}
            a = start_daemon(tmp_path / "a", *args, **env)
            daemons.append(a)
            b = start_daemon(tmp_path / "b", *args, **env)
            daemons.append(b)
            alice = member(a, tmp_path)
            room = make_room(a, alice, "two-daemons")
            bob = member(b, tmp_path, room)
            status, _, _ = http("GET", b.api("/api/health"))
            assert status == 200
            for who, tone in ((alice, 440.0), (bob, 660.0)):
                clip = make_clip(tmp_path / f"{int(tone)}.mp4", 10.0, 160, 120, tone_hz=tone)
                proc = Background(who.cli, "call", room, "--play", str(clip), "--json")
                assert proc.wait_for(lambda e: e["event"] == "joined")["mode"] == "sfu"
                calls.append(proc)
            for proc in calls:
                stats = proc.wait_for(receiving_all(1, 20_000), timeout=60)
                assert stats["uplink"]["video_streams"] == 1, stats
            for proc in calls:
                proc.proc.send_signal(signal.SIGTERM)
                assert proc.finish(timeout=30) == 0, proc.stderr()
        finally:
            for proc in calls:
                if proc.proc.poll() is None:
                    proc.kill()
            for d in daemons:
                d.stop()
            janus.stop()
            redis.stop()
            pg.remove()
