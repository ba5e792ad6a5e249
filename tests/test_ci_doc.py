"""docs/ci.md: its two shell blocks, run as written against the real daemon."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from transfer_helpers import Member, make_room, member, random_file

from conftest import BIN, Daemon

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"


def block(marker: str) -> str:
    """The ```sh block of docs/ci.md whose first line is ``# ci: MARKER``."""
    for body in re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if body.startswith(f"# ci: {marker}\n"):
            return str(body)
    raise AssertionError(f"docs/ci.md has no `# ci: {marker}` block")


def run_block(marker: str, who: Member, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # The CLI's directory first on PATH: `videonet` in the block is this checkout's.
    path = f"{BIN}:/usr/bin:/bin"
    return subprocess.run(
        ["sh", "-c", block(marker)],
        cwd=cwd,
        env=who.cli.env(PATH=path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_ci_example_sends_and_verifies(daemon: Daemon, tmp_path: Path) -> None:
    builder = member(daemon, tmp_path)
    room = make_room(daemon, builder, "builds-" + builder.user.username)
    checker = member(daemon, tmp_path, room)
    build, lab = tmp_path / "build", tmp_path / "lab"
    (build / "dist").mkdir(parents=True)
    lab.mkdir()
    setup = run_block("receiver key", checker, lab)
    assert setup.returncode == 0, setup.stderr
    sources = [random_file(build / "dist" / n, 300_000) for n in ("app.tar.gz", "app.whl")]
    sent = run_block("send", builder, build, ROOM=room)
    assert sent.returncode == 0, sent.stderr
    assert "sent 2 files" in sent.stdout
    received = run_block("receive", checker, lab, ROOM=room, COUNT="2")
    assert received.returncode == 0, received.stderr
    for src in sources:
        assert (lab / "incoming" / src.name).read_bytes() == src.read_bytes()


def test_the_ci_example_fails_on_a_changed_byte(daemon: Daemon, tmp_path: Path) -> None:
    builder = member(daemon, tmp_path)
    room = make_room(daemon, builder, "builds-" + builder.user.username)
    checker = member(daemon, tmp_path, room)
    build, lab = tmp_path / "build", tmp_path / "lab"
    (build / "dist").mkdir(parents=True)
    lab.mkdir()
    setup = run_block("receiver key", checker, lab)
    assert setup.returncode == 0, setup.stderr
    random_file(build / "dist" / "app.tar.gz", 300_000)
    sent = run_block("send", builder, build, ROOM=room)
    assert sent.returncode == 0, sent.stderr
    transfer_id = re.search(r'"transfer_id":"(\w+)"', (build / "sent.jsonl").read_text())
    assert transfer_id is not None
    spool = daemon.data_dir / "spool" / f"{transfer_id.group(1)}.spool"
    with spool.open("r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    received = run_block("receive", checker, lab, ROOM=room, COUNT="1")
    assert received.returncode == 1
    assert "does not verify" in received.stderr  # the encrypted record the byte is in
    assert not (lab / "incoming" / "app.tar.gz").exists()


def test_the_ci_example_fails_early_on_a_bad_token(daemon: Daemon, tmp_path: Path) -> None:
    builder = member(daemon, tmp_path)
    (tmp_path / "dist").mkdir()
    random_file(tmp_path / "dist" / "x.bin", 1000)
    sent = run_block("send", builder, tmp_path, ROOM="nowhere", VIDEONET_TOKEN="not-a-token")
    assert sent.returncode == 3, sent.stderr
