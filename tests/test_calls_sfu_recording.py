"""`videonet call --record-room`: the call recorded by Janus, everyone told before and while it
happens, the files post-processed with janus-pp-rec (WebM video, Opus audio, per participant)
and offered to the room as an ordinary end-to-end encrypted transfer. Only members can fetch
the files from the daemon.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from calls_helpers import Peer, make_clip, refused
from media_env import SfuWorld, sfu_world
from test_calls_sfu_media import decode, receiving_all
from transfer_helpers import Background, listening_receiver, make_room, member, with_device_keys

from conftest import Daemon, http

pytestmark = [
    pytest.mark.one_pass("calls through Janus: no database in the media path"),
    # Real-time media (speaking levels, recorded frames) misses its windows when three other
    # workers load the two cores: run alone, after the parallel part (it failed only there).
    pytest.mark.serial("real-time media through Janus with a browser or recorder"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfuWorld]:
    if shutil.which("janus-pp-rec") is None:
        pytest.skip("janus-pp-rec is not installed (janus-tools: `make test-packages`)")
    root = tmp_path_factory.mktemp("sfu-rec")
    recordings = root / "recordings"
    recordings.mkdir()
    with sfu_world(root, VIDEONET_MEDIA_SERVER_RECORDINGS_DIR=str(recordings)) as w:
        yield w


@pytest.fixture(scope="module")
def daemon(world: SfuWorld) -> Daemon:
    return world.daemon


def test_record_room_tells_everyone_and_offers_playable_files_to_the_room(
    world: SfuWorld, tmp_path: Path
) -> None:
    d = world.daemon
    alice = member(d, tmp_path)
    room = make_room(d, alice, "rec")
    bob, carol = member(d, tmp_path, room), member(d, tmp_path, room)
    with_device_keys(alice, bob, carol)
    clips = [
        make_clip(tmp_path / f"{tone}.mp4", 15.0, 160, 120, tone_hz=tone) for tone in (440, 660)
    ]
    listener = Background(bob.cli, "call", room, "--play", str(clips[1]), "--json")
    listener.wait_for(lambda e: e["event"] == "joined")
    recorder = Background(
        alice.cli, "call", room, "--play", str(clips[0]), "--record-room", "--json"
    )
    recorder.wait_for(lambda e: e["event"] == "joined")
    # Bob, already in the call, is told; so is the recorder itself.
    on = listener.wait_for(lambda e: e["event"] == "recording")
    assert on["on"] and on["by"] == alice.user.username
    recorder.wait_for(lambda e: e["event"] == "recording" and e["on"])
    # Carol joins during the recording: the notice comes before her media goes anywhere.
    late = Background(carol.cli, "call", room, "--json")
    seen = late.wait_for(lambda e: e["event"] in ("recording", "publishing", "media_server"))
    assert seen["event"] == "recording" and seen["on"], seen
    for proc in (listener, recorder):
        proc.wait_for(receiving_all(1, 60_000), timeout=60)

    # A stranger cannot fetch a recording file (nor guess one).
    eve = member(d, tmp_path)
    status, _, _ = http(
        "GET", d.api(f"/api/rooms/{room}/call-recordings/x/y.webm"), token=eve.user.token
    )
    assert status == 403

    rx_dir = tmp_path / "carol-rx"
    receiver = listening_receiver(carol.cli, room, rx_dir)
    recorder.proc.send_signal(signal.SIGINT)
    assert recorder.finish(timeout=240) == 0, recorder.stderr()
    offered = recorder.result()["room_recording"]
    assert sorted(offered) == sorted(
        f"{who}-{kind}"
        for who in (alice.user.username, bob.user.username)
        for kind in ("audio.opus", "video.webm")
    ), offered
    off = listener.wait_for(lambda e: e["event"] == "recording" and not e["on"], timeout=60)
    assert len(off["files"]) == 4
    assert receiver.finish(timeout=120) == 0, receiver.stderr()
    got = {p.name: p for p in rx_dir.rglob("*") if p.is_file()}
    assert set(got) == set(offered), got
    for who, tone in ((alice.user.username, 440), (bob.user.username, 660)):
        video = decode(got[f"{who}-video.webm"])
        assert video["video_frames"] > 10 and video["undecodable"] < video["video_frames"], video
        audio = decode(got[f"{who}-audio.opus"])
        assert audio["audio_samples"] > 48_000 and abs(audio["peak_hz"] - tone) < 15, audio
    for proc in (listener, late):
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.finish(timeout=30) == 0, proc.stderr()


def test_only_the_asker_stops_the_recording_and_a_newcomer_is_told(
    world: SfuWorld, tmp_path: Path
) -> None:
    d = world.daemon
    alice = member(d, tmp_path)
    room = make_room(d, alice, "rec-raw")
    bob = member(d, tmp_path, room)

    async def scenario() -> None:
        async with Peer(d, alice.user.token) as a, Peer(d, bob.user.token) as b:
            await a.enter(room)
            started = await a.call("call:record", {"room_id": room, "on": True})
            assert started["ok"] and started["recording"]["by"]["peer_id"] == a.peer_id
            joined = await b.enter(room)  # after the start: the answer says so
            assert joined["recording"]["id"] == started["recording"]["id"]
            assert refused(await b.call("call:record", {"room_id": room, "on": False}), "forbidden")
            again = await a.call("call:record", {"room_id": room, "on": True})
            assert refused(again, "conflict")
            stopped = await a.call("call:record", {"room_id": room, "on": False})
            assert stopped["ok"] and stopped["recording"] is None
            assert stopped["stopped"]["id"] == started["recording"]["id"]

    asyncio.run(scenario())
