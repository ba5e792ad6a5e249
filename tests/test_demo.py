"""`make demo`, the README's first command, as a newcomer runs it: it works and leaves their
home directory as it found it (it wrote a device key into the real ~/.local/share before)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.one_pass("the demo script: runs its own daemon on SQLite")


def tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and directory under ``root`` (hidden ones too): size, mode, modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def test_demo_passes_and_leaves_home_untouched(tmp_path: Path) -> None:
    """As `make demo` runs it (the venv's python, scripts/demo.py), for someone who already uses
    videonet on this machine: their config, device key and the daemon's data stay as they were,
    and nothing new appears under HOME."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "unrelated.txt").write_text("mine\n")
    for mine in (
        home / ".config" / "videonet" / "config.json",
        home / ".local" / "share" / "videonet" / "identity" / "device-key.json",
        home / ".local" / "share" / "videonet-daemon" / "jwt-secret",
    ):
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_text("{}\n")
    before = tree(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEONET_", "XDG_"))}
    env["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "demo finished" in result.stdout
    assert tree(home) == before
