"""Calls between the web client in headless Chromium (fake camera and microphone) and
`videonet call`, and between two browsers: media decoded on every side, late video recorded."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import (
    browser,
    log_in,
    open_room,
    page_for,
    send_chat,
    wait_for_media,
    wait_for_stats,
)
from calls_helpers import make_clip
from media_env import namespace_daemon, own_namespace  # noqa: F401  (fixtures: in a namespace)
from transfer_helpers import Background, make_room, member

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 20.0, 160, 120)


def decode(path: Path) -> dict[str, Any]:
    """What a recording really holds, decoded frame by frame with PyAV."""
    import av

    video, sizes, samples = 0, set(), 0
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams):
            if isinstance(frame, av.VideoFrame):
                video += 1
                sizes.add((frame.width, frame.height))
            elif isinstance(frame, av.AudioFrame):
                samples += frame.samples
    return {"video_frames": video, "sizes": sizes, "audio_samples": samples}


def join_call(page: Any, camera: bool = True) -> None:
    if not camera:
        page.uncheck("#with-camera")
    page.click("#join-call")
    page.wait_for_selector("#leave-call:not([hidden])")


def record_until_video(recorder: Background) -> None:
    """Let the recorder take in a few seconds of the browser's media, judged by bytes."""
    recorder.wait_for(
        lambda e: e["event"] == "stats" and any(p["bytes_received"] > 150_000 for p in e["peers"]),
        timeout=40,
    )


def test_browser_and_cli_see_each_other_and_the_recording_has_video(
    daemon: Daemon, tmp_path: Path, browser: Any, clip: Path
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "web-call")
    bob = member(daemon, tmp_path, room)
    page = page_for(browser, daemon)
    log_in(page, alice.user)
    open_room(page, room)
    join_call(page)  # first in the call: the CLI offers, the browser answers and trickles

    out = tmp_path / "rec" / "web.mp4"
    out.parent.mkdir()
    cli = Background(bob.cli, "call", room, "--play", str(clip), "--record", str(out), "--json")
    joined = cli.wait_for(lambda e: e["event"] == "joined")
    assert joined["participants"] == [alice.user.username]
    wait_for_media(page, peers=1)  # the browser decodes the clip's video and audio
    cli.wait_for(lambda e: e["event"] == "peer_state" and e["state"] == "connected")
    record_until_video(cli)
    cli.proc.send_signal(signal.SIGINT)
    assert cli.finish(timeout=30) == 0, cli.stderr()
    result = cli.result()
    assert result["failed_recordings"] == []
    (recording,) = result["recordings"]
    got = decode(Path(recording["path"]))
    assert got["video_frames"] > 20 and got["audio_samples"] > 0, got
    # The browser hears that bob left and drops his tile.
    page.wait_for_selector("#tiles .tile:not(.local)", state="detached")
    assert page.errors == []
    page.context.close()


def camera_off_call_recorded_by_a_terminal(
    daemon: Daemon, tmp_path: Path, browser: Any, name: str
) -> tuple[Any, Background]:
    """bob's terminal records the call; alice's browser joins it with the camera off. Both
    connected: (alice's page, bob's `videonet call`)."""
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, name)
    bob = member(daemon, tmp_path, room)
    cli = Background(bob.cli, "call", room, "--record", str(tmp_path / f"{name}.mp4"), "--json")
    cli.wait_for(lambda e: e["event"] == "joined")
    page = page_for(browser, daemon)
    log_in(page, alice.user)
    open_room(page, room)
    join_call(page, camera=False)
    cli.wait_for(lambda e: e["event"] == "peer_state" and e["state"] == "connected")
    return page, cli


def test_a_camera_that_starts_two_seconds_after_the_microphone_is_recorded(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    # The browser offers audio, and a video track with no camera.
    page, cli = camera_off_call_recorded_by_a_terminal(daemon, tmp_path, browser, "late-video")
    page.wait_for_timeout(2000)
    page.check("#with-camera")  # replaceTrack: video starts on the track already negotiated
    record_until_video(cli)
    cli.proc.send_signal(signal.SIGINT)
    assert cli.finish(timeout=30) == 0, cli.stderr()
    result = cli.result()
    assert result["failed_recordings"] == [], result
    got = decode(Path(result["recordings"][0]["path"]))
    assert got["video_frames"] > 20 and got["audio_samples"] > 0, got
    # The fake camera's size, not the 640×480 default the encoder would have opened with.
    assert len(got["sizes"]) == 1, got
    assert page.errors == []
    page.context.close()


def test_a_recording_without_the_announced_video_is_an_error(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    # A video track is announced, but no camera ever starts.
    page, cli = camera_off_call_recorded_by_a_terminal(daemon, tmp_path, browser, "no-video")
    cli.wait_for(
        lambda e: e["event"] == "stats" and any(p["bytes_received"] > 20_000 for p in e["peers"]),
        timeout=30,
    )
    cli.proc.send_signal(signal.SIGINT)
    assert cli.finish(timeout=30) == 1
    result = cli.result()
    assert result["recordings"] == []
    (failed,) = result["failed_recordings"]
    assert "no video" in failed["problem"]
    assert "no video" in cli.stderr()
    page.context.close()


def test_two_browsers_in_one_call(daemon: Daemon, tmp_path: Path, browser: Any) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "two-browsers")
    bob = member(daemon, tmp_path, room)
    pages = []
    for who in (alice, bob):
        page = page_for(browser, daemon)
        log_in(page, who.user)
        open_room(page, room)
        join_call(page)
        pages.append(page)
    for page in pages:
        wait_for_media(page, peers=1)
        # The remote tile's <video> plays the other side's camera.
        page.wait_for_function(
            "() => [...document.querySelectorAll('#tiles .tile:not(.local) video')]"
            ".some(v => v.videoWidth > 0 && !v.paused)"
        )
    shot = tmp_path / "call.png"
    pages[0].screenshot(path=str(shot))
    pages[1].click("#leave-call")
    pages[0].wait_for_selector("#tiles .tile:not(.local)", state="detached")
    assert pages[0].errors == [] and pages[1].errors == []
    for page in pages:
        page.context.close()


def test_a_browser_that_loses_the_daemon_reconnects_and_rejoins_the_call(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "reconnect")
    bob = member(daemon, tmp_path, room)
    pages = []
    for who in (alice, bob):
        page = page_for(browser, daemon)
        log_in(page, who.user)
        open_room(page, room)
        join_call(page)
        pages.append(page)
    wait_for_media(pages[0], peers=1)
    before = pages[0].evaluate("window.videonet.stats()")[0]["peer_id"]
    pages[1].context.set_offline(True)
    pages[1].wait_for_function(
        "() => document.getElementById('connection').textContent !== 'connected'", timeout=60_000
    )
    pages[1].context.set_offline(False)
    pages[1].wait_for_function(
        "() => document.getElementById('connection').textContent === 'connected'", timeout=60_000
    )
    # Bob is a new participant now; alice connects to him again and sees him.
    wait_for_stats(
        pages[0],
        lambda rows: (
            len(rows) == 1 and rows[0]["peer_id"] != before and rows[0]["framesDecoded"] > 10
        ),
        "video from bob's new connection",
        timeout=60,
    )
    send_chat(pages[1], "back again")
    pages[0].wait_for_selector("#messages .text:text('back again')")
    for page in pages:
        page.context.close()
