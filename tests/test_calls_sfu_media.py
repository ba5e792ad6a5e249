"""`videonet call` through Janus, end to end: real media, in a network namespace of its own.

Three `videonet call` processes, each playing its own clip (a tone of its own), each record the
other two; every one uploads a single video stream whatever the number of participants (the SFU
forwards it). Then the faults: a member removed from the room loses the call; Janus killed
mid-call ends the call with one line and exit code 5, and a call after Janus is back works
without restarting the daemon.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calls_helpers import make_clip
from media_env import SfuWorld, sfu_world
from transfer_helpers import Background, Member, make_room, member

from conftest import Daemon, http, start_daemon

pytestmark = pytest.mark.one_pass("calls through Janus: no database in the media path")

WIDTH, HEIGHT = 160, 120
TONES = (440.0, 660.0, 880.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfuWorld]:
    with sfu_world(tmp_path_factory.mktemp("sfu-media")) as w:
        yield w


@pytest.fixture(scope="module")
def daemon(world: SfuWorld) -> Daemon:
    return world.daemon


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("clips")
    return [
        make_clip(root / f"clip{int(tone)}.mp4", 12.0, WIDTH, HEIGHT, tone_hz=tone)
        for tone in TONES
    ]


def decode(path: Path) -> dict[str, Any]:
    """Video frames and the loudest frequency of the audio in a recording (PyAV + numpy), as a
    player plays it: a packet the decoder refuses (a frame whose reference was lost on the way,
    as a recording of real-time media can hold) is skipped and counted, not the end."""
    import av
    import numpy as np

    frames, undecodable, chunks, rate = 0, 0, [], 48_000
    with av.open(str(path)) as container:
        for packet in container.demux(*container.streams):
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                undecodable += 1
                continue
            for frame in decoded:
                if isinstance(frame, av.VideoFrame):
                    frames += 1
                elif isinstance(frame, av.AudioFrame):
                    rate = frame.sample_rate
                    chunks.append(frame.to_ndarray().astype(np.float64).mean(axis=0))
    samples = np.concatenate(chunks) if chunks else np.zeros(1)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak = float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])
    return {
        "video_frames": frames,
        "undecodable": undecodable,
        "audio_samples": len(samples),
        "peak_hz": peak,
    }


def receiving_all(others: int, min_bytes: int = 40_000) -> Any:
    def ready(event: dict[str, Any]) -> bool:
        return (
            event["event"] == "stats"
            and len(event["peers"]) == others
            and all(p["bytes_received"] > min_bytes for p in event["peers"])
        )

    return ready


def test_three_participants_each_upload_once_and_receive_the_other_two(
    world: SfuWorld, tmp_path: Path, clips: list[Path]
) -> None:
    d = world.daemon
    owner = member(d, tmp_path)
    room = make_room(d, owner, "sfu")
    people = [owner, member(d, tmp_path, room), member(d, tmp_path, room)]
    tone_of = {m.user.username: tone for m, tone in zip(people, TONES, strict=True)}
    calls = []
    for m, clip in zip(people, clips, strict=True):
        out = tmp_path / m.user.username / "rec.mkv"
        out.parent.mkdir()
        proc = Background(m.cli, "call", room, "--play", str(clip), "--record", str(out), "--json")
        joined = proc.wait_for(lambda e: e["event"] == "joined")
        assert joined["mode"] == "sfu"
        calls.append(proc)
    for proc in calls:
        stats = proc.wait_for(receiving_all(2), timeout=60)
        # One upload of our video, not one per other participant.
        assert stats["uplink"]["video_streams"] == 1, stats
    for proc in calls:
        proc.proc.send_signal(signal.SIGINT)
    for m, proc in zip(people, calls, strict=True):
        assert proc.finish(timeout=60) == 0, proc.stderr()
        result = proc.result()
        assert result["reason"] == "signal"
        got = {r["username"]: Path(r["path"]) for r in result["recordings"]}
        assert set(got) == set(tone_of) - {m.user.username}, result
        for username, path in got.items():
            heard = decode(path)
            assert heard["video_frames"] > 10, (username, heard)
            assert heard["audio_samples"] > 48_000, (username, heard)
            assert abs(heard["peak_hz"] - tone_of[username]) < 15, (username, heard)


def test_a_member_removed_from_the_room_loses_the_call(
    world: SfuWorld, tmp_path: Path, clips: list[Path]
) -> None:
    d = world.daemon
    owner = member(d, tmp_path)
    room = make_room(d, owner, "sfu-kick")
    bob = member(d, tmp_path, room)
    staying = Background(owner.cli, "call", room, "--play", str(clips[0]), "--json")
    staying.wait_for(lambda e: e["event"] == "joined")
    leaving = Background(bob.cli, "call", room, "--play", str(clips[1]), "--json")
    leaving.wait_for(lambda e: e["event"] == "joined")
    staying.wait_for(receiving_all(1, 20_000), timeout=60)
    leaving.wait_for(receiving_all(1, 20_000), timeout=60)
    # Bob leaves the room over HTTP (as being removed does): he is out of the call at once.
    status, _, _ = http("POST", d.api(f"/api/rooms/{room}/leave"), {}, token=bob.user.token)
    assert status == 200
    assert leaving.finish(timeout=30) == 0, leaving.stderr()
    assert leaving.result()["reason"] == "removed"
    gone = staying.wait_for(lambda e: e["event"] in ("peer_left", "peer_hung_up"))
    assert gone["username"] == bob.user.username
    staying.proc.send_signal(signal.SIGTERM)
    assert staying.finish(timeout=30) == 0, staying.stderr()


def start_pair(d: Daemon, people: list[Member], room: str, clips: list[Path]) -> list[Background]:
    calls = []
    for m, clip in zip(people, clips, strict=False):
        proc = Background(m.cli, "call", room, "--play", str(clip), "--json")
        proc.wait_for(lambda e: e["event"] == "joined")
        calls.append(proc)
    for proc in calls:
        proc.wait_for(receiving_all(1, 20_000), timeout=60)
    return calls


def test_janus_killed_mid_call_ends_it_with_one_line_and_a_restart_brings_calls_back(
    world: SfuWorld, tmp_path: Path, clips: list[Path]
) -> None:
    d = world.daemon
    owner = member(d, tmp_path)
    room = make_room(d, owner, "sfu-fault")
    people = [owner, member(d, tmp_path, room)]
    calls = start_pair(d, people, room, clips)
    world.janus.kill()
    try:
        for proc in calls:
            assert proc.finish(timeout=90) == 5, proc.stderr()
            lines = [line for line in proc.stderr().splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("Error: "), lines
            assert "media server" in lines[0], lines
            assert proc.result()["reason"] == "media_lost"
    finally:
        world.janus.start()
    # Same daemon, Janus started again: the next call works.
    again = start_pair(d, people, room, clips)
    for proc in again:
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.finish(timeout=30) == 0, proc.stderr()


def test_a_call_outlives_its_join_token(world: SfuWorld, tmp_path: Path, clips: list[Path]) -> None:
    """Tokens live 30 s here; Janus checks them on every request (the long poll, keepalives):
    a call of 45 s goes on only because each client refreshes its token from the daemon."""
    env = {**world.janus.daemon_env(), "VIDEONET_MEDIA_TOKEN_LIFETIME": "30"}
    d = start_daemon(tmp_path / "short", **env)
    try:
        owner = member(d, tmp_path)
        room = make_room(d, owner, "sfu-token")
        people = [owner, member(d, tmp_path, room)]
        calls = []
        # The second leaves first (after 45 s): the first still sends to it until then.
        for m, clip, seconds in zip(people, clips, ("60", "45"), strict=False):
            args = ("call", room, "--play", str(clip), "--json", "--duration", seconds)
            proc = Background(m.cli, *args)
            proc.wait_for(lambda e: e["event"] == "joined")
            calls.append(proc)
        for proc in calls:
            proc.wait_for(receiving_all(1, 20_000), timeout=60)
        for proc in calls:
            assert proc.finish(timeout=90) == 0, proc.stderr()
            assert proc.result()["reason"] == "duration"
            assert not [e for e in proc.events if e["event"] == "warning"], proc.events
        # Media still arrived in the second's last seconds, well after its first token expired.
        late = [e for e in calls[1].events if e["event"] == "stats"][-3:]
        assert all(e["peers"] for e in late), late
        assert late[-1]["peers"][0]["bytes_received"] > late[0]["peers"][0]["bytes_received"]
    finally:
        d.stop()


@pytest.mark.parametrize("mode", ["mesh", "sfu"])
def test_mute_and_speaking_reach_the_others_the_same_way_in_both_modes(
    world: SfuWorld, tmp_path: Path, clips: list[Path], mode: str
) -> None:
    mesh = start_daemon(tmp_path / "mesh") if mode == "mesh" else None
    d = mesh or world.daemon
    try:
        alice = member(d, tmp_path)
        room = make_room(d, alice, f"state-{mode}")
        bob = member(d, tmp_path, room)
        listener = Background(bob.cli, "call", room, "--json")  # receives only: both "off"
        assert listener.wait_for(lambda e: e["event"] == "joined")["mode"] == mode
        speaker = Background(alice.cli, "call", room, "--play", str(clips[0]), "--json")
        speaker.wait_for(lambda e: e["event"] == "joined")
        heard = listener.wait_for(
            lambda e: e["event"] == "peer_media" and e["speaking"], timeout=60
        )
        assert heard["username"] == alice.user.username
        assert heard["audio"] and heard["video"]
        # bob tells his state when he hears alice join, which may reach her before the answer
        # to her own join: then it was printed before her "joined", among the events read.
        earlier = [e for e in speaker.events if e["event"] == "peer_media"]
        seen = (
            earlier[0]
            if earlier
            else speaker.wait_for(lambda e: e["event"] == "peer_media", timeout=30)
        )
        assert seen["username"] == bob.user.username
        assert not seen["audio"] and not seen["video"] and not seen["speaking"]
        for proc in (speaker, listener):
            proc.proc.send_signal(signal.SIGTERM)
            assert proc.finish(timeout=30) == 0, proc.stderr()
    finally:
        if mesh is not None:
            mesh.stop()
