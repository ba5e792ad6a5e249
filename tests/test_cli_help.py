"""Help text, one-line usage errors, shell completion, and the daemon's bad-setting errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_docs import COMMANDS

from conftest import BIN, Cli, Daemon, base_env, daemon_command

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

PYTHON_TYPE_LABEL = re.compile(r"<(str|int|float|bool|path|Path|list\[|int range|float range)")


def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=base_env(COLUMNS="100", **env),
    )


def python_c(code: str) -> subprocess.CompletedProcess[str]:
    """This venv's Python running ``code`` (what a command imports, measured in a fresh process)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=base_env()
    )


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_help_shows_no_python_types(name: str) -> None:
    r = run(*name.split(), "--help")
    assert r.returncode == 0, r.stderr
    assert not PYTHON_TYPE_LABEL.search(r.stdout), r.stdout
    assert "(dynamic)" not in r.stdout and "{" not in r.stdout.splitlines()[0]


def test_daemon_help_names_env_defaults_and_choices() -> None:
    text = " ".join(run("videonet-daemon", "serve", "--help").stdout.split())
    assert "[env: VIDEONET_HOST; default: 127.0.0.1]" in text
    assert "[env: VIDEONET_PORT; default: 7701]" in text
    assert "--log-format text|json" in text
    assert "[env: VIDEONET_LOG_FORMAT; default: text]" in text
    text = " ".join(run("videonet", "analyze", "--help").stdout.split())
    assert "--sampling uniform|shots" in text and "--detail low|high" in text
    text = " ".join(run("videonet", "--help").stdout.split())
    assert "[env var: VIDEONET_SERVER]" in text and "--install-completion" in text


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ("videonet", "rooms", "list", "--bogus"),
            "Error: No such option: --bogus (see `videonet rooms list --help`)",
        ),
        (
            ("videonet", "rooms", "create"),
            "Error: Missing argument 'NAME' (see `videonet rooms create --help`)",
        ),
        (
            ("videonet", "no-such-command"),
            "Error: No such command 'no-such-command' (see `videonet --help`)",
        ),
        (
            ("videonet", "invite", "create", "--uses", "0"),
            "Error: Invalid value for '--uses': Input should be greater than or equal to 1 "
            "(see `videonet invite create --help`)",
        ),
        (
            ("videonet-daemon", "serve", "--log-format", "xml"),
            "Error: Invalid value for '--log-format': Value error, 'xml' is not one of 'text', "
            "'json' (see `videonet-daemon serve --help`)",
        ),
        (
            ("videonet-daemon", "invite", "create", "--expires", "later"),
            "Error: Invalid value: 'later' is not a duration like 30m, 12h or 7d "
            "(see `videonet-daemon invite create --help`)",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: tuple[str, ...], line: str) -> None:
    r = run(*argv)
    assert r.returncode == 2
    assert r.stderr == line + "\n"


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ("--database-url", "bogus://x"),
            {},
            "Error: database_url 'bogus://x' must start with sqlite:/// or postgresql://",
        ),
        (
            (),
            {"VIDEONET_LOG_LEVEL": "loud"},
            "Error: log_level must be one of debug, info, warning, not 'loud'",
        ),
    ],
)
def test_bad_daemon_settings_are_one_line_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], line: str
) -> None:
    r = subprocess.run(
        [str(BIN / "videonet-daemon"), "serve", "--port", "0", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=base_env(**env),
    )
    assert r.returncode == 2
    assert r.stderr == line + "\n"


def test_unreachable_database_is_said_as_such(tmp_path: Path) -> None:
    url = "postgresql://127.0.0.1:1/videonet"
    for command in ("serve", "check"):
        r = subprocess.run(
            [
                str(BIN / "videonet-daemon"),
                command,
                "--data-dir",
                str(tmp_path),
                "--database-url",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=base_env(),
        )
        assert r.returncode == 1
        assert r.stderr == (
            "Error: cannot reach the database at postgresql://127.0.0.1:1/videonet: "
            "Connection refused\n"
        )


@pytest.mark.sqlite_only
def test_check_drops_sqlalchemy_background_link(tmp_path: Path) -> None:
    # A file where the data dir's database would be a directory: SQLAlchemy fails to open it.
    (tmp_path / "videonet.db").mkdir()
    r = daemon_command("check", data_dir=tmp_path)
    assert r.returncode == 1
    assert "Background on this error" not in r.stderr and "sqlalche.me" not in r.stderr
    assert r.stderr.startswith("Error: cannot reach the database at sqlite:///")
    assert r.stderr.count("\n") == 1


def complete(cli: Cli, line: str) -> list[str]:
    words = line.split(" ")
    r = subprocess.run(
        [str(BIN / "videonet")],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli.env(
            _VIDEONET_COMPLETE="complete_bash", COMP_WORDS=line, COMP_CWORD=str(len(words) - 1)
        ),
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_completion_of_rooms_members_and_keys(daemon: Daemon, cli: Cli, tmp_path: Path) -> None:
    room = cli("rooms", "create", "completion-studio", "--json").json()
    other = daemon.make_user(tmp_path)
    Cli(daemon.url, other.config_dir, other.token)("rooms", "join", room["id"])
    assert "completion-studio" in complete(cli, "videonet rooms join completion-")
    assert complete(cli, "videonet chat completion-stu") == ["completion-studio"]
    # All but its last letter: the names are "u" + hex, and the room's creator may share a
    # short prefix (it did: "uab" took both).
    prefix = other.username[:-1]
    members = complete(cli, f"videonet send completion-studio file.bin --to {prefix}")
    assert members == [other.username]
    assert complete(cli, "videonet config get ou") == ["output"]
    assert "completion-studio" not in complete(  # no daemon: nothing, and no error in the shell
        Cli("http://127.0.0.1:9", cli.config_dir, cli.token), "videonet rooms join completion-"
    )


@pytest.mark.parametrize("program", ["videonet", "videonet-daemon"])
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(program: str, shell: str) -> None:
    # What `--install-completion` writes, asked for by shell name: `--show-completion` alone
    # detects the shell the command runs under (sh under make), so the script is asked for
    # the way the installed completion itself asks, through the completion variable.
    var = f"_{program.replace('-', '_').upper()}_COMPLETE"
    r = run(program, **{var: f"source_{shell}"})
    assert r.returncode == 0, r.stderr
    assert var in r.stdout and program in r.stdout


def _help(argv: list[str], whole: bool = False) -> str:
    """What `videonet ARGV` prints, from the tree built for ARGV (or the whole tree)."""
    import contextlib
    import io

    from videonet_cli.main import build_command

    command = build_command() if whole else build_command(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert command.main(args=argv, prog_name="videonet", standalone_mode=False) == 0
    return out.getvalue()


def test_a_command_line_naming_one_command_builds_that_branch_and_says_the_same() -> None:
    """`videonet send …` builds only `send`'s branch of the tree (start-up, issue 26); its help,
    and every other command's and group's, reads as it does from the whole tree; what needs the
    whole tree gets it."""
    from videonet_cli.main import build_command, named_command

    names = sorted(build_command().commands)  # type: ignore[attr-defined]
    assert "send" in names and "rooms" in names
    for name in names:
        assert list(build_command([name, "--help"]).commands) == [name]  # type: ignore[attr-defined]
        text = _help([name, "--help"])
        assert text == _help([name, "--help"], whole=True) and f"videonet {name}" in text
    assert named_command(["--server", "http://h:1", "--insecure", "send", "r", "f"]) == "send"
    assert named_command(["--server=http://h:1", "rooms", "list"]) == "rooms"
    for argv in (["--help"], ["sned", "r"], [], ["-h"], ["--", "send"]):
        assert named_command(argv) is None, argv
    assert named_command(["--version"]) == ""
    assert list(build_command(["--version"]).commands) == []  # type: ignore[attr-defined]


def test_the_transfer_commands_import_no_terminal_renderer_until_they_show_something() -> None:
    """Rich is imported when a person is shown something (bars, a table, a red line), not with
    the command: a `send --json` never loads it (25-55 ms of CPU per start, issue 26)."""
    code = (
        "import sys; import videonet_cli.main as m; m.build_command(['send']); "
        "import videonet_cli.commands.transfer, videonet_cli.transfer.sender, "
        "videonet_cli.transfer.receiver; "
        "print(sorted(n for n in sys.modules if n == 'rich' or n.startswith('rich.')))"
    )
    done = python_c(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    shown = python_c(
        "from videonet_cli.render.console import error_line as e; e('x')"
        "; import sys; print('rich.console' in sys.modules)"
    )
    assert shown.stdout.strip() == "True" and "x" in shown.stderr


def test_the_entry_point_imports_the_command_line_without_cycle_collection() -> None:
    """`videonet` (videonet_cli.launch) turns cycle collection off before the command line is
    imported: importing it made 47 young and 4 older collections, 10-15 ms (issue 26)."""
    code = (
        "import atexit, gc, sys\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
        "atexit.register(lambda: print('collections', len(runs)))\n"
        "sys.argv = ['videonet', '--version']\n"
        "from videonet_cli.launch import main\n"
        "main()\n"
    )
    done = python_c(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["videonet 0.1.0", "collections 0"], done.stdout
