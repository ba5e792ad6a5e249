"""Four participants through Janus: three `videonet call` processes (each its own tone) and the
web page in headless Chromium. Everyone receives the three others; each uploads one video
stream; the page says the call is decrypted at the media server.

Janus, the daemon, Chromium and the CLIs run in a network namespace the module makes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import browser, log_in, open_room, page_for, wait_for_media
from calls_helpers import make_clip
from media_env import SfuWorld, sfu_world
from test_calls_sfu_media import decode, receiving_all
from transfer_helpers import Background, make_room, member

from conftest import Daemon

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]

TONES = (440.0, 660.0, 880.0)


@pytest.fixture(scope="module", autouse=True)
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfuWorld]:
    # autouse: the namespace exists before the browser fixture starts Chromium.
    with sfu_world(tmp_path_factory.mktemp("sfu-web")) as w:
        yield w


@pytest.fixture(scope="module")
def daemon(world: SfuWorld) -> Daemon:
    return world.daemon


def seen_or_wait(proc: Background, predicate: Any) -> dict[str, Any]:
    """The first event so far that matches, or the next one."""
    for event in proc.events:
        if predicate(event):
            return event
    return proc.wait_for(predicate, timeout=30)


def test_three_terminals_and_a_browser_meet_through_janus(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    owner = member(daemon, tmp_path)
    room = make_room(daemon, owner, "sfu-web")
    people = [owner, member(daemon, tmp_path, room), member(daemon, tmp_path, room)]
    web = member(daemon, tmp_path, room)
    page = page_for(browser, daemon)
    log_in(page, web.user)
    open_room(page, room)
    page.click("#join-call")
    page.wait_for_selector("#leave-call:not([hidden])")
    page.wait_for_function("() => window.videonet.mode() === 'sfu'")
    status = page.text_content("#status") or ""
    assert "no end-to-end encryption" in status, status

    calls = []
    tone_of = {}
    for person, tone in zip(people, TONES, strict=True):
        clip = make_clip(tmp_path / f"clip{int(tone)}.mp4", 15.0, 160, 120, tone_hz=tone)
        out = tmp_path / person.user.username / "rec.mkv"
        out.parent.mkdir()
        proc = Background(
            person.cli, "call", room, "--play", str(clip), "--record", str(out), "--json"
        )
        assert proc.wait_for(lambda e: e["event"] == "joined")["mode"] == "sfu"
        calls.append(proc)
        tone_of[person.user.username] = tone
    for proc in calls:
        stats = proc.wait_for(receiving_all(3, 40_000), timeout=90)
        assert stats["uplink"]["video_streams"] == 1, stats
    wait_for_media(page, peers=3, timeout=60)
    uplink = page.evaluate("window.videonet.uplink()")
    assert uplink["videoStreams"] == 1, uplink  # one upload, not one per participant
    # Mute and speaking state both ways: the terminals' tones make them speak; the page has its
    # (fake) camera and microphone on.
    page.wait_for_function(
        "() => window.videonet.peerStates().filter((s) => s.speaking && s.audio).length === 3"
    )
    for proc in calls:
        state = seen_or_wait(
            proc, lambda e: e["event"] == "peer_media" and e["username"] == web.user.username
        )
        assert state["audio"] and state["video"], state

    for proc in calls:
        proc.proc.send_signal(signal.SIGINT)
    for person, proc in zip(people, calls, strict=True):
        assert proc.finish(timeout=60) == 0, proc.stderr()
        got = {r["username"]: Path(r["path"]) for r in proc.result()["recordings"]}
        assert set(got) == (set(tone_of) - {person.user.username}) | {web.user.username}
        for username, path in got.items():
            heard = decode(path)
            assert heard["video_frames"] > 10, (username, heard)
            if username in tone_of:
                assert abs(heard["peak_hz"] - tone_of[username]) < 15, (username, heard)
            else:
                assert heard["audio_samples"] > 0, heard  # Chromium's fake microphone
    assert page.errors == [], page.errors
    page.context.close()
