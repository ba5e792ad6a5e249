"""docs/ci.md: its two shell blocks, run as written against the real daemon."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from transfer_helpers import Member, make_room, member, random_file

from conftest import BIN, Cli, Daemon, http

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


@dataclass
class Accounts:
    """The two CI accounts as the page sets them up once, on a workstation."""

    room: str
    builder: Member
    checker: Member
    env_builder: dict[str, str]
    env_checker: dict[str, str]


def set_up_once(daemon: Daemon, tmp_path: Path) -> Accounts:
    builder = member(daemon, tmp_path)
    room = make_room(daemon, builder, "builds-" + builder.user.username)
    checker = member(daemon, tmp_path, room)
    recovery = {}
    for who in (builder, checker):
        workstation = Cli(daemon.url, tmp_path / f"ws-{who.user.username}", who.user.token)
        r = workstation("devices", "--json")
        assert r.code == 0, r.err
        recovery[who.user.username] = r.json()["recovery_key"]
    # Each job's device, made once; its key file goes to the secret store.
    device_key = {}
    for who in (builder, checker):
        kept = Cli(daemon.url, tmp_path / f"{who.user.username}-device", who.user.token)
        r = kept("devices", VIDEONET_RECOVERY_KEY=recovery[who.user.username])
        assert r.code == 0, r.err
        device_key[who.user.username] = kept.config_dir / "data" / "identity" / "device-key.json"
    ws_builder = Cli(daemon.url, tmp_path / f"ws-{builder.user.username}", builder.user.token)
    r = ws_builder("keys", "verify", checker.user.username, "--json")
    assert r.code == 0, r.err
    return Accounts(
        room,
        builder,
        checker,
        {
            "ROOM": room,
            "TO": checker.user.username,
            "TO_SAFETY_NUMBER": r.json()["groups"],
            "VIDEONET_RECOVERY_KEY": recovery[builder.user.username],
            "DEVICE_KEY_FILE": str(device_key[builder.user.username]),
        },
        {
            "ROOM": room,
            "VIDEONET_RECOVERY_KEY": recovery[checker.user.username],
            "DEVICE_KEY_FILE": str(device_key[checker.user.username]),
        },
    )


def fresh_runner(who: Member, folder: Path) -> Member:
    """The same account on a runner that starts empty (a data dir nobody used)."""
    folder.mkdir(parents=True)
    return Member(who.user, Cli(who.cli.daemon_url, folder, who.user.token))


def test_the_ci_example_sends_and_verifies_on_fresh_runners(daemon: Daemon, tmp_path: Path) -> None:
    ci = set_up_once(daemon, tmp_path)
    for run in (1, 2):
        build, lab = tmp_path / f"build{run}", tmp_path / f"lab{run}"
        (build / "dist").mkdir(parents=True)
        lab.mkdir()
        builder = fresh_runner(ci.builder, tmp_path / f"builder-runner{run}")
        checker = fresh_runner(ci.checker, tmp_path / f"checker-runner{run}")
        setup = run_block("device key", checker, lab, **ci.env_checker)
        assert setup.returncode == 0, setup.stderr
        sources = [random_file(build / "dist" / n, 300_000) for n in ("app.tar.gz", "app.whl")]
        assert run_block("device key", builder, build, **ci.env_builder).returncode == 0
        sent = run_block("send", builder, build, **ci.env_builder)
        assert sent.returncode == 0, sent.stderr
        assert "sent 2 files" in sent.stdout
        assert "identity changed" not in sent.stderr
        received = run_block("receive", checker, lab, COUNT="2", **ci.env_checker)
        assert received.returncode == 0, received.stderr
        for src in sources:
            assert (lab / "incoming" / src.name).read_bytes() == src.read_bytes()
    # Fresh runners, the same devices: each account has its workstation and its job's device.
    status, mine, _ = http("GET", daemon.api("/api/keys"), token=ci.builder.user.token)
    assert status == 200 and len(mine["devices"]) == 2
    status, mine, _ = http("GET", daemon.api("/api/keys"), token=ci.checker.user.token)
    assert len(mine["devices"]) == 2  # the workstation and the one receiving device


def test_the_ci_example_fails_on_a_changed_byte(daemon: Daemon, tmp_path: Path) -> None:
    ci = set_up_once(daemon, tmp_path)
    build, lab = tmp_path / "build", tmp_path / "lab"
    (build / "dist").mkdir(parents=True)
    lab.mkdir()
    setup = run_block("device key", ci.checker, lab, **ci.env_checker)
    assert setup.returncode == 0, setup.stderr
    random_file(build / "dist" / "app.tar.gz", 300_000)
    assert run_block("device key", ci.builder, build, **ci.env_builder).returncode == 0
    sent = run_block("send", ci.builder, build, **ci.env_builder)
    assert sent.returncode == 0, sent.stderr
    transfer_id = re.search(r'"transfer_id":"(\w+)"', (build / "sent.jsonl").read_text())
    assert transfer_id is not None
    spool = daemon.data_dir / "spool" / f"{transfer_id.group(1)}.spool"
    with spool.open("r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    received = run_block("receive", ci.checker, lab, COUNT="1", **ci.env_checker)
    assert received.returncode == 1
    assert "does not verify" in received.stderr  # the encrypted record the byte is in
    assert not (lab / "incoming" / "app.tar.gz").exists()


def test_a_wrong_safety_number_stops_the_send(daemon: Daemon, tmp_path: Path) -> None:
    ci = set_up_once(daemon, tmp_path)
    (tmp_path / "dist").mkdir()
    random_file(tmp_path / "dist" / "x.bin", 1000)
    env = {**ci.env_builder, "TO_SAFETY_NUMBER": "1" * 60}
    sent = run_block("send", ci.builder, tmp_path, **env)
    assert sent.returncode == 2, sent.stderr
    assert "not your safety number" in sent.stderr


def test_the_ci_example_fails_early_on_a_bad_token(daemon: Daemon, tmp_path: Path) -> None:
    builder = member(daemon, tmp_path)
    (tmp_path / "dist").mkdir()
    random_file(tmp_path / "dist" / "x.bin", 1000)
    sent = run_block("send", builder, tmp_path, ROOM="nowhere", VIDEONET_TOKEN="not-a-token")
    assert sent.returncode == 3, sent.stderr
