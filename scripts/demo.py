"""`make demo`: the main job on the embedded default, start to finish, printing each step.

Starts a daemon on a temporary data dir and a free port, registers two users with the bootstrap
invite (the second with the first one's personal invite), creates a room, joins it, sends a file
from one to the other with a verified SHA-256, then stops the daemon. Exit 0 when all of it worked.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
PASSWORD = "demo-password-123"
DEMO_FILE_BYTES = 64 * 1024 * 1024


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def user_env(config: Path, server: str) -> dict[str, str]:
    """One demo user's environment: config and data (device keys, identity, pins) in the demo's
    temporary directory, never in the real ~/.config or ~/.local/share."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEONET_")}
    env.update(
        VIDEONET_SERVER=server,
        VIDEONET_CONFIG_DIR=str(config),
        VIDEONET_DATA_DIR=str(config / "data"),
    )
    return env


def videonet(config: Path, server: str, *args: str, stdin: str | None = None) -> str:
    env = user_env(config, server)
    shown = " ".join(a if a != PASSWORD else "***" for a in args)
    print(f"    $ videonet {shown}", flush=True)
    result = subprocess.run(
        [str(BIN / "videonet"), *args], input=stdin, capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"demo failed at: videonet {shown} (exit {result.returncode})")
    return result.stdout


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="videonet-demo-") as tmp:
        root = Path(tmp)
        step("starting videonet-daemon on a free port with a fresh data dir")
        daemon = subprocess.Popen(
            [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(root / "d")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert daemon.stdout is not None
            invite = server = ""
            for line in daemon.stdout:
                print(f"    {line.rstrip()}", flush=True)
                if line.startswith("bootstrap invite"):
                    invite = line.rsplit(" ", 1)[1].strip()
                if "listening on " in line:
                    server = line.split("listening on ", 1)[1].strip()
                    break
            if not server or not invite:
                raise SystemExit("demo failed: the daemon did not start")
            alice, bob = root / "alice", root / "bob"

            step("alice registers with the bootstrap invite and logs in")
            out = videonet(
                alice,
                server,
                "register",
                "--email",
                "alice@example.test",
                "--username",
                "alice",
                "--invite",
                invite,
                "--password-stdin",
                "--json",
                stdin=PASSWORD,
            )
            alice_invite = json.loads(out)["invite_code"]
            videonet(
                alice, server, "login", "--email", "alice@example.test", "--password-stdin",
                stdin=PASSWORD,
            )  # fmt: skip

            step("bob registers with alice's personal invite and logs in")
            videonet(
                bob, server, "register", "--email", "bob@example.test", "--username", "bob",
                "--invite", alice_invite, "--password-stdin", stdin=PASSWORD,
            )  # fmt: skip
            videonet(
                bob, server, "login", "--email", "bob@example.test", "--password-stdin",
                stdin=PASSWORD,
            )  # fmt: skip

            step("alice creates the room 'studio'; bob joins it")
            videonet(alice, server, "rooms", "create", "studio", "-d", "demo room")
            videonet(bob, server, "rooms", "join", "studio")
            print(videonet(bob, server, "rooms", "members", "studio"), end="")

            transfer(root, server, alice, bob)
            step("demo finished: two users, one room" + TRANSFER_NOTE)
        finally:
            step("stopping the daemon")
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    return 0


TRANSFER_NOTE = ", one verified transfer"


def transfer(root: Path, server: str, alice: Path, bob: Path) -> None:
    """alice sends a random file; bob receives it; both sides check the SHA-256."""
    src = root / "footage.bin"
    with src.open("wb") as fh:
        for _ in range(DEMO_FILE_BYTES // (1 << 20)):
            fh.write(os.urandom(1 << 20))
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    inbox = root / "inbox"
    inbox.mkdir()
    step(f"bob waits for files in 'studio'; alice sends {DEMO_FILE_BYTES >> 20} MiB")
    env = user_env(bob, server)
    print(f"    $ videonet receive studio --yes --out {inbox} --json   (bob, in the background)")
    receiver = subprocess.Popen(
        [str(BIN / "videonet"), "receive", "studio", "--yes", "--out", str(inbox), "--json"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert receiver.stdout is not None
    receiver.stdout.readline()  # {"event": "listening", ...}
    print(videonet(alice, server, "send", "studio", str(src), "--no-progress"), end="")
    out, _ = receiver.communicate(timeout=120)
    result = json.loads(out.strip().splitlines()[-1])
    if receiver.returncode != 0 or not result["ok"]:
        raise SystemExit(f"demo failed: bob's receive: {result}")
    got = hashlib.sha256((inbox / "footage.bin").read_bytes()).hexdigest()
    if got != expected:
        raise SystemExit("demo failed: the received file differs")
    print(f"    bob has {inbox / 'footage.bin'}: sha256 {got[:16]}… matches alice's")


if __name__ == "__main__":
    sys.exit(main())
