"""`videonet call` end to end: two real processes on loopback, one playing a clip, one recording.

The daemon relays signaling only; the media goes peer to peer over host candidates (the ICE
server list is empty, so nothing tries to reach the internet).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from calls_helpers import Peer, make_clip
from media_env import namespace_daemon, own_namespace  # noqa: F401  (fixtures: in a namespace)
from transfer_helpers import Background, make_room, member

from conftest import BIN, Daemon, http

pytestmark = pytest.mark.one_pass("call media: no database in the media path")

WIDTH, HEIGHT = 160, 120


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 8.0, WIDTH, HEIGHT)


def decode(path: Path) -> dict[str, Any]:
    """Count what a recording really holds by decoding every frame with PyAV."""
    import av

    video, sizes, samples, rates = 0, set(), 0, set()
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams):
            if isinstance(frame, av.VideoFrame):
                video += 1
                sizes.add((frame.width, frame.height))
            elif isinstance(frame, av.AudioFrame):
                samples += frame.samples
                rates.add(frame.sample_rate)
    return {"video_frames": video, "sizes": sizes, "audio_samples": samples, "rates": rates}


def test_two_processes_one_plays_the_other_records(
    daemon: Daemon, tmp_path: Path, clip: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "call")
    bob = member(daemon, tmp_path, room)
    out = tmp_path / "rec" / "call.mp4"
    out.parent.mkdir()

    # Bob is in the call first, receive-only, recording; Alice joins and offers her clip.
    recorder = Background(bob.cli, "call", room, "--record", str(out), "--json")
    joined = recorder.wait_for(lambda e: e["event"] == "joined")
    assert joined["participants"] == [] and joined["ice_servers"] == 0
    player = Background(alice.cli, "call", room, "--play", str(clip), "--json", "--duration", "30")
    first = player.wait_for(lambda e: e["event"] == "joined")
    assert first["participants"] == [bob.user.username] and first["sending"] == ["audio", "video"]
    recorder.wait_for(lambda e: e["event"] == "negotiated")
    recorder.wait_for(lambda e: e["event"] == "peer_state" and e["state"] == "connected")
    # A few seconds of media, judged by bytes received rather than by the clock.
    recorder.wait_for(
        lambda e: e["event"] == "stats" and any(p["bytes_received"] > 60_000 for p in e["peers"]),
        timeout=30,
    )
    recorder.proc.send_signal(signal.SIGINT)  # Ctrl-C: leave cleanly, finish the recording
    assert recorder.finish(timeout=30) == 0, recorder.stderr()
    result = recorder.result()
    assert result["reason"] == "signal"
    expected = out.with_name(f"call-{alice.user.username}.mp4")
    assert result["recordings"][0]["path"] == str(expected)

    # The player hears that bob left and stays until its --duration (cut short here).
    player.wait_for(lambda e: e["event"] == "peer_left" and e["username"] == bob.user.username)
    player.proc.send_signal(signal.SIGTERM)
    assert player.finish(timeout=30) == 0, player.stderr()
    assert player.result()["recordings"] == []

    got = decode(expected)
    assert got["video_frames"] > 10 and got["sizes"] == {(WIDTH, HEIGHT)}
    assert got["rates"] == {48_000} and got["audio_samples"] > 48_000  # over a second of audio


def test_a_mesh_of_three_records_each_peer_to_its_own_file(
    daemon: Daemon, tmp_path: Path, clip: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "mesh")
    bob, carol = member(daemon, tmp_path, room), member(daemon, tmp_path, room)
    out = tmp_path / "mesh.mkv"
    recorder = Background(bob.cli, "call", room, "--record", str(out), "--json")
    recorder.wait_for(lambda e: e["event"] == "joined")
    video = Background(alice.cli, "call", room, "--play", str(clip), "--json")
    video.wait_for(lambda e: e["event"] == "joined")
    # Carol comes last: she offers to both, and sends the clip's audio only.
    voice = Background(carol.cli, "call", room, "--play", str(clip), "--audio-only", "--json")
    joined = voice.wait_for(lambda e: e["event"] == "joined")
    assert sorted(joined["participants"]) == sorted([bob.user.username, alice.user.username])
    assert joined["sending"] == ["audio"]
    connected: set[str] = set()
    while connected != {alice.user.username, carol.user.username}:
        event = recorder.wait_for(lambda e: e["event"] == "peer_state")
        if event["state"] == "connected":
            connected.add(event["username"])
    recorder.wait_for(
        lambda e: (
            e["event"] == "stats"
            and len(e["peers"]) == 2
            and all(p["bytes_received"] > 20_000 for p in e["peers"])
        ),
        timeout=30,
    )
    for proc in (recorder, video, voice):
        proc.proc.send_signal(signal.SIGTERM)
    for proc in (recorder, video, voice):
        assert proc.finish(timeout=30) == 0, proc.stderr()
    paths = {r["username"]: Path(r["path"]) for r in recorder.result()["recordings"]}
    assert paths == {
        alice.user.username: tmp_path / f"mesh-{alice.user.username}.mkv",
        carol.user.username: tmp_path / f"mesh-{carol.user.username}.mkv",
    }
    from_alice, from_carol = decode(paths[alice.user.username]), decode(paths[carol.user.username])
    assert from_alice["video_frames"] > 0 and from_alice["audio_samples"] > 0
    assert from_carol["video_frames"] == 0 and from_carol["audio_samples"] > 0
    # Alice and Carol are connected too: each saw the other.
    assert any(
        e["event"] == "peer_state"
        and e["state"] == "connected"
        and e["username"] == carol.user.username
        for e in video.events
    )


async def test_the_newcomer_offers_host_candidates_only_and_obeys_a_hang_up(
    daemon: Daemon, tmp_path: Path, clip: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "call-raw")
    bob = member(daemon, tmp_path, room)
    async with Peer(daemon, bob.user.token) as raw:  # a client that speaks only the protocol
        await raw.enter(room)
        call = Background(alice.cli, "call", room, "--play", str(clip), "--json")
        offer = await raw.next("call:offer", timeout=30)
        assert offer["peer"]["username"] == alice.user.username
        sdp = offer["sdp"]
        assert "m=audio" in sdp and "m=video" in sdp and "a=sendrecv" in sdp
        assert "typ host" in sdp and "typ srflx" not in sdp and "typ relay" not in sdp
        hangup = {"room_id": room, "to": offer["peer"]["peer_id"], "reason": "busy"}
        assert (await raw.call("call:hangup", hangup))["ok"]
        event = await asyncio.to_thread(call.wait_for, lambda e: e["event"] == "peer_hung_up", 30)
        assert event["reason"] == "busy" and event["username"] == bob.user.username
        call.proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(call.finish, 30) == 0
        assert (await raw.next("call:left"))["reason"] == "left"


def test_call_option_errors_are_one_line(daemon: Daemon, tmp_path: Path, clip: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "call-errors")
    r = alice.cli("call", room, "--play", str(clip), "--device", "/dev/video9")
    assert r.code == 2 and "not both" in r.err
    r = alice.cli("call", room, "--play", str(tmp_path / "missing.mp4"))
    assert r.code == 4 and "no such file" in r.err
    r = alice.cli("call", room, "--record", str(tmp_path / "out.txt"))
    assert r.code == 2 and ".mp4" in r.err
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    r = alice.cli("call", room, "--play", str(tmp_path / "junk.mp4"))
    assert r.code == 2 and "cannot open" in r.err
    stranger = member(daemon, tmp_path)
    r = stranger.cli("call", room, "--duration", "1")
    assert r.code == 3 and "not a member" in r.err, r.err
    assert "Traceback" not in r.err


def test_leaving_the_room_ends_the_call(daemon: Daemon, tmp_path: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "call-removed")
    bob = member(daemon, tmp_path, room)
    call = Background(bob.cli, "call", room, "--json")
    call.wait_for(lambda e: e["event"] == "joined")
    status, _, _ = http("POST", daemon.api(f"/api/rooms/{room}/leave"), {}, bob.user.token)
    assert status == 200
    assert call.finish(timeout=30) == 0, call.stderr()
    assert call.result()["reason"] == "removed"


def test_deleting_the_room_ends_its_call(daemon: Daemon, tmp_path: Path) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "call-deleted")
    bob = member(daemon, tmp_path, room)
    call = Background(bob.cli, "call", room, "--json")
    call.wait_for(lambda e: e["event"] == "joined")
    status, _, _ = http("DELETE", daemon.api(f"/api/rooms/{room}"), None, alice.user.token)
    assert status == 200
    assert call.finish(timeout=30) == 0, call.stderr()
    assert call.result()["reason"] == "removed"


def test_losing_the_daemon_ends_the_call_with_exit_5(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory()
    alice = member(d, tmp_path)
    room = make_room(d, alice, "call-lost")
    call = Background(alice.cli, "call", room, "--json")
    call.wait_for(lambda e: e["event"] == "joined")
    d.proc.kill()  # a crash; a graceful stop waits out its grace period for open sockets
    d.proc.wait()
    assert call.finish(timeout=30) == 5, call.stderr()
    assert call.result()["reason"] == "daemon_lost"
    assert "connection to the daemon was lost" in call.stderr()


def test_recording_names_put_the_peer_before_the_extension(tmp_path: Path) -> None:
    from videonet_cli.calls.media import device_input, recording_path

    out, taken = tmp_path / "call.mp4", set()
    assert recording_path(out, "bob", taken) == tmp_path / "call-bob.mp4"
    assert recording_path(out, "bob", taken) == tmp_path / "call-bob-2.mp4"
    (tmp_path / "call-eve.mp4").write_bytes(b"")  # an existing file is never overwritten
    assert recording_path(out, "eve", taken) == tmp_path / "call-eve-2.mp4"
    hostile = recording_path(out, "../../etc/x y", taken)
    assert hostile.parent == tmp_path and hostile.name == "call-_.._etc_x_y.mp4"
    assert device_input("pulse:default") == ("pulse", "default")
    assert device_input("v4l2:/dev/video2") == ("v4l2", "/dev/video2")
    if sys.platform == "linux":
        assert device_input("/dev/video0") == ("v4l2", "/dev/video0")


async def test_a_recording_survives_video_frames_closer_than_the_encoders_tick(
    tmp_path: Path,
) -> None:
    # A browser under load sends video frames less than 1/30 s apart (90 kHz timestamps);
    # the recorder encodes at 30 frames a second, so two of them would share a timestamp and
    # the muxer would refuse the file when it is finished ("Invalid argument").
    import fractions

    import av
    from aiortc import MediaStreamTrack

    from videonet_cli.calls.recording import Recording

    class Frames(MediaStreamTrack):
        kind = "video"

        def __init__(self, timestamps: list[int]) -> None:
            super().__init__()
            self.timestamps = timestamps
            self.all_sent = asyncio.Event()

        async def recv(self) -> Any:
            if not self.timestamps:
                self.all_sent.set()
                await asyncio.Event().wait()  # a live track that went quiet
            frame = av.VideoFrame(160, 120, "yuv420p")
            frame.pts, frame.time_base = self.timestamps.pop(0), fractions.Fraction(1, 90_000)
            await asyncio.sleep(0.002)
            return frame

    # 30 frames 1/45 s apart, then 30 at 1/30 s, then one repeated timestamp.
    stamps = [n * 2000 for n in range(30)] + [60_000 + n * 3000 for n in range(30)]
    stamps.append(stamps[-1])
    path = tmp_path / "late.mp4"
    track = Frames(list(stamps))
    recording = Recording(path, [track], wait=2)
    await asyncio.wait_for(track.all_sent.wait(), 30)
    await recording.stop()
    assert recording.problem is None, recording.problem
    feed = recording.feeds[0]
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    # Within 2/3 s at 1/45 s the encoder's clock has 20 ticks: 10 frames are left out.
    assert feed.repeated == 11 and decoded == feed.written == 50, (feed.repeated, decoded)


def test_version_does_not_load_aiortc() -> None:
    code = (
        "import sys; from videonet_cli.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "assert 'aiortc' not in sys.modules and 'av' not in sys.modules, 'loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=BIN)
