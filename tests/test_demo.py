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


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def test_demo_passes_and_leaves_home_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "unrelated.txt").write_text("mine\n")
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
