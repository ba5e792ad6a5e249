"""The kind of claim that slipped in the docs (issue 27: 8 of 40 tried were false), each checked
against the code:

- every `VIDEONET_*` variable the docs name is declared (the daemon's `Settings`, the CLI's
  `config.ENVIRONMENT`, the analysis `SETTINGS`), every declared one is documented, and every
  one the code reads is declared (ci.md named a `VIDEONET_JWT_TTL` that never existed);
- every `videonet …` command line in the docs names commands and options that exist, with no more
  arguments than the command takes;
- what the docs quote as the program's output is what the code prints (the missing-extra line of
  getting-started.md was an older message): a fenced block marked `output`, and a message quoted
  inline in ``double backticks``, is checked against the strings in src/ (see `explained`);
- every link between the docs points at a file and a heading that exist.

The light install's measured size is in test_light_install.py.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from videonet_cli.analysis import settings as analysis_settings
from videonet_cli.config import ENVIRONMENT
from videonet_cli.config import markdown_table as cli_environment_table
from videonet_cli.main import build_command as videonet_command
from videonet_cli.main import give_optional_values, hoist_global_options
from videonet_daemon.cli import build_command as daemon_command
from videonet_daemon.settings import describe
from videonet_protocol.adapters.typer import Context, UsageError

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
VARIABLE = re.compile(r"\bVIDEONET_[A-Z0-9_]+\b")


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def prose(text: str) -> str:
    """The text with its fenced blocks blanked (line numbers kept)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


# -- settings ---------------------------------------------------------------------------------


def declared() -> dict[str, str]:
    """Every environment variable VideoNet reads, from its one declaration -> which one."""
    names = {env: "daemon settings" for _, _, env, _ in describe()}
    names |= {name: "CLI environment" for name, _ in ENVIRONMENT}
    names |= {s.env: "analysis settings" for s in analysis_settings.SETTINGS}
    names |= {env: "analysis settings" for env in analysis_settings.ALIASES.values()}
    return names


def test_every_variable_the_docs_name_is_declared() -> None:
    known = declared()
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    wrong = []
    for path in DOCS:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for name in VARIABLE.findall(line):
                test_only = name.startswith("VIDEONET_TEST_") and name in tests
                if name not in known and not test_only:
                    wrong.append(f"{where(path, n)}: {name}")
    assert wrong == [], "named in the docs, declared nowhere:\n" + "\n".join(wrong)


def test_every_declared_variable_is_documented() -> None:
    settings_doc = (ROOT / "docs" / "settings.md").read_text()
    analysis_doc = (ROOT / "docs" / "analysis.md").read_text()
    assert cli_environment_table() in settings_doc
    assert "(analysis.md#settings)" in settings_doc
    for name, kind in declared().items():
        doc = analysis_doc if kind == "analysis settings" else settings_doc
        assert f"`{name}`" in doc, f"{name} ({kind}) is not in its table"


def code_strings(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield path, node.value


def test_every_variable_the_code_reads_is_declared() -> None:
    """A name in a string of src/ (a read, a help text, an error) is one of the declared ones."""
    known = declared()
    wrong = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path, value in code_strings(ROOT / "src")
        for name in VARIABLE.findall(value)
        if name not in known
    )
    assert wrong == [], "used in the code, declared nowhere:\n" + "\n".join(wrong)


# -- command lines ------------------------------------------------------------------------------

PROGRAMS = {"videonet": videonet_command(), "videonet-daemon": daemon_command()}
COMMAND_START = re.compile(r"^(videonet|videonet-daemon)(\s|$)")


def shell_lines(body: str) -> Iterator[tuple[int, str]]:
    """(line offset, command) for each `videonet` command of a shell block."""
    for i, line in enumerate(body.replace("\\\n", "  \n").splitlines()):
        line = re.sub(r"\s+#.*$", "", re.sub(r"^\$ ", "", line.strip()))
        line = re.sub(r'"?\$\([^)]*\)"?', "X", line)  # "$(cat FILE)": one word
        for part in re.split(r"&&|\|\||;|\|", line):
            part = re.sub(r"^(\w+=\S*\s+)+", "", part.strip())  # VAR=value videonet …
            if COMMAND_START.match(part):
                yield i, part


def command_lines() -> Iterator[tuple[str, str]]:
    """Every `videonet …` command line of the docs: in `sh`/`console` blocks, and in single
    backticks in the prose (a usage line with [OPTIONS] is the generated reference's)."""
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) in ("sh", "console"):
                first = text[: m.start()].count("\n") + 2
                for offset, command in shell_lines(m.group(2)):
                    yield where(path, first + offset), command
        for n, line in enumerate(prose(text).splitlines(), 1):
            for m in re.finditer(r"(?<!`)`(?!`)(.+?)(?<!`)`(?!`)", line):
                for part in m.group(1).split(" | "):
                    part = part.strip()
                    if COMMAND_START.match(part) and "[OPTIONS]" not in part:
                        for alt in part.split(" / "):  # `videonet register / login`
                            full = alt if COMMAND_START.match(alt) else f"videonet {alt}"
                            yield where(path, n), full


def _options(command: Any) -> dict[str, bool]:
    """Option name -> whether it takes a value."""
    found = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        takes_value = not param.is_flag and not param.count
        for name in [*param.opts, *param.secondary_opts]:
            found[name] = takes_value
    found["--help"] = False
    return found


def _positionals(command: Any) -> float:
    counts = [p.nargs for p in command.params if p.param_type_name == "argument"]
    return float("inf") if any(n < 0 for n in counts) else sum(counts)


def default_subcommand(group: Any, word: str) -> str | None:
    """The subcommand a group runs for a first word that is none of its own (`keys USER` runs
    `keys show USER`), asked of the group's own parsing; None when it has no such default."""
    ctx = Context(group, info_name="group", resilient_parsing=True)
    group.parse_args(ctx, [word])
    chosen = [*getattr(ctx, "_protected_args", []), *ctx.args][:1]
    return chosen[0] if chosen and chosen[0] != word else None


def parse_problem(line: str) -> str | None:
    """What is wrong with a documented command line, or None. Nothing is run: the names are
    looked up in the real command tree. Placeholders (ROOM, FILE…) are ordinary arguments;
    `[--x | -y]` is read as its first choice; a shell redirection ends the command."""
    line = re.sub(r"\|[^\]]*\]", "]", line).replace("…", " ").replace("...", " ")
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return f"not a shell line ({exc})"
    program, args = words[0], []
    for word in words[1:]:
        if re.match(r"^(\d?>|<|&$|>>)", word):
            break
        if word.strip("[]"):
            args.append(word.strip("[]"))
    if program == "videonet":
        args = give_optional_values(hoist_global_options(args))
    command, path, positional = PROGRAMS[program], [program], 0
    options = _options(command)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            if name not in options:
                return f"`{' '.join(path)}` has no option {name}"
            if options[name] and "=" not in arg:
                i += 1
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands:
            if arg == "COMMAND":  # `videonet [--server URL] COMMAND …`
                return None
            chosen = arg if arg in subcommands else default_subcommand(command, arg)
            if chosen is None:
                return f"`{' '.join(path)}` has no command {arg!r}"
            command, path = subcommands[chosen], [*path, chosen]
            options |= _options(command)
            if chosen != arg:  # `videonet keys USER` is `videonet keys show USER`
                i -= 1
            continue
        positional += 1
        if positional > _positionals(command):
            return f"`{' '.join(path)}` takes no argument {arg!r} here"
    return None


@pytest.mark.parametrize(
    "line",
    [
        "videonet rooms list --bogus",
        "videonet roomz list",
        "videonet send studio a.txt --overwrite",
        "videonet rooms create a b",
        "videonet-daemon serve --port 0 extra",
    ],
)
def test_the_command_line_check_can_fail(line: str) -> None:
    assert parse_problem(line) is not None


def test_every_command_line_in_the_docs_parses() -> None:
    lines = list(command_lines())
    assert len(lines) > 150  # the docs' command lines were found
    wrong = [f"{at}: {line}: {problem}" for at, line in lines if (problem := parse_problem(line))]
    assert wrong == [], "\n".join(wrong)


# -- links --------------------------------------------------------------------------------------


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", prose(text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_link_between_the_docs_resolves() -> None:
    wrong = []
    for path in DOCS:
        text = path.read_text()
        for n, line in enumerate(prose(text).splitlines(), 1):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                linked = (path.parent / file).resolve() if file else path
                if not linked.exists():
                    wrong.append(f"{where(path, n)}: {target}: no such file")
                elif anchor and anchor not in anchors(linked.read_text()):
                    wrong.append(f"{where(path, n)}: {target}: no such heading")
    assert wrong == [], "\n".join(wrong)


# -- quoted output ------------------------------------------------------------------------------
#
# The convention: a line the program prints is quoted in a fenced block marked `output`, or
# inline in ``double backticks`` (single backticks are for what you type). Values in a quote are
# examples (take1.mov, 18.4 MB) or placeholders (URL, N); "…" stands for any text left out. The
# words around the values must be the code's, as `explained` reads them.

MIN_SHARED = 0.3
JOINING = " ()[]"
MIN_PIECE = 8
MIN_EDGE_PIECE = 4  # a piece at the quote's start or end, an excerpt's edge
GRAM = MIN_EDGE_PIECE + 1  # a string is tried when it shares this many characters in a row
MAX_VALUE = 16  # the longest value between two pieces (one word)
WILD = None  # a value in a string of the code, or a "…" in a quote
Text = list[str | None]


def _not_printed(tree: ast.AST) -> set[int]:
    """Docstrings, and the pieces of an f-string (its whole is the pattern)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            found.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):
            found.update(id(v) for v in node.values)
    return found


# A `{field}` of str.format (and of the web page's messages): where `.format` puts a value in.
FIELD = re.compile(r"(?<!\{)\{(?:[A-Za-z_][A-Za-z0-9_]*)?(?:[!:][^{}]*)?\}(?!\})")


def _with_fields(text: str) -> list[str | None]:
    """A string as literal parts and None for each `{field}` (the catalogue's messages are
    `_("… {name} …").format(name=…)`: their fields are values, as an f-string's are)."""
    parts: list[str | None] = []
    last = 0
    for m in FIELD.finditer(text):
        parts += [text[last : m.start()], None]
        last = m.end()
    return [*parts, text[last:]]


def _segments(node: ast.expr) -> list[str | None] | None:
    """A string expression as literal parts and None for each value put in; None if it is not
    a string expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _with_fields(node.value)
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None for v in node.values]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _segments(node.left), _segments(node.right)
        if left is None and right is None:
            return None
        return [*(left or [None]), *(right or [None])]
    return None


def _chars(parts: list[str | None]) -> Text:
    """Characters (whitespace runs as one space) and WILD for each value."""
    out: Text = []
    for part in parts:
        if part is None:
            if not out or out[-1] is not WILD:
                out.append(WILD)
            continue
        for c in part:
            c = " " if c.isspace() else c
            if not (c == " " and out and out[-1] == " "):
                out.append(c)
    return out


def code_strings_printed() -> list[Text]:
    """Every string expression of src/ (not docstrings) with a few words of its own, and the
    usage errors of the command-line library (its "No such option: …"), and the web page's."""
    found: dict[str, Text] = {}
    library = Path(sys.modules[UsageError.__module__].__file__ or "")
    for path in [*sorted((ROOT / "src").rglob("*.py")), library]:
        tree = ast.parse(path.read_text())
        skip = _not_printed(tree)
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, ast.expr):
                continue
            parts = _segments(node)
            literal = "".join(p for p in parts or [] if p is not None)
            if parts is None or len(literal.split()) < 2:
                continue
            found.setdefault(repr(parts), _chars(parts))
    for path in sorted((ROOT / "src").rglob("*.js")):
        if path.name.endswith(".min.js"):  # a vendored library
            continue
        for parts in _js_strings(path.read_text()):
            if len("".join(p for p in parts if p is not None).split()) >= 2:
                found.setdefault(repr(parts), _chars(parts))
    return list(found.values())


def _js_strings(source: str) -> Iterator[list[str | None]]:
    """The web page's string literals ("…", '…', and `…${value}…` as parts), what it shows."""
    literal = r'"(?:[^"\\\n]|\\.)*"|' + r"'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`"
    for m in re.finditer(literal, source):
        body = m.group(0)[1:-1]
        if m.group(0)[0] == "`":
            texts = re.split(r"\$\{[^}]*\}", body)
            yield [part for text in texts for part in (None, text)][1:]  # a value between texts
        else:
            yield [body]


PRINTED = code_strings_printed()


def _absorbable(quote: Text, i: int) -> bool:
    """Whether a value of the code may take quote[i]: not the ": " or "; " between clauses."""
    return not (quote[i] in (":", ";") and i + 1 < len(quote) and quote[i + 1] == " ")


def _boundary(text: Text, k: int) -> bool:
    """Whether position k of ``text`` is not inside a word (pieces start and end on words)."""
    if k <= 0 or k >= len(text):
        return True
    before, after = text[k - 1], text[k]
    return before is WILD or after is WILD or not (before.isalnum() and after.isalnum())


def explained(quote_text: str) -> str | None:
    """None when the code's strings explain the quote, else why not.

    The quote is read as pieces, each a stretch of one string of src/ (Python, and the web
    page's JavaScript): a line put together from several strings, as `✓ NAME: …`, is several
    pieces. A string is cut only where a value joins it, or where the quote itself starts or
    ends (a quote may be an excerpt); each piece shares MIN_PIECE characters with its string
    (MIN_EDGE_PIECE at the quote's start or end);
    between two pieces may stand one value of one word (at most MAX_VALUE characters), and
    spaces and brackets that join them (JOINING); all the pieces share MIN_SHARED of the quote's
    characters. A value of the code takes any text but
    the ": " or "; " between clauses; a "…" of the quote takes any of the code's. The "Error: "
    in front is the dispatcher's (videonet_protocol.command_line). A changed clause or message
    fails; a changed word in a value's place, or next to a "…", cannot."""
    body = " ".join(quote_text.removeprefix("Error: ").split())
    quote: Text = [WILD if c == "…" else c for c in body]
    n = len(quote)
    words = sum(1 for c in quote if c is not WILD and c != " ")
    grams = {body[k : k + GRAM] for k in range(len(body) - GRAM + 1)}  # the strings to try
    codes = [
        code
        for code in PRINTED
        if any(
            "".join(c or "\x00" for c in code[k : k + GRAM]) in grams
            for k in range(len(code) - GRAM + 1)
        )
    ]
    # A state: (whether the current piece has MIN_PIECE shared characters yet, the characters
    # shared so far, those of the current piece); the larger is kept. f[c][j]: at code c's
    # position j, having read quote[:i].
    Key = tuple[bool, int, int, int]  # … and minus the spaces the current value has taken
    none: Key = (False, -1, 0, 0)
    best = [-1] * (n + 1)  # best[i]: the most shared by whole pieces making quote[:i]
    best[0] = 0
    after_value = [-1] * (n + 1)  # the same, then one value (never two values in a row)
    f = [[none] * (len(c) + 1) for c in codes]

    def step(key: Key, gain: int) -> Key:
        piece = key[2] + gain
        return (piece >= MIN_PIECE, key[1] + gain, piece, 0)

    for i in range(n + 1):
        nxt = [[none] * (len(c) + 1) for c in codes]
        q = quote[i] if i < n else ""
        if best[i] >= 0:  # a value between pieces (a string's value that is not a string)
            for k in range(i + 1, min(n, i + MAX_VALUE) + 1):
                if not _absorbable(quote, k - 1) or " " in quote[i + 1 : k]:
                    break
                after_value[k] = max(after_value[k], best[i])
        if i < n and quote[i] is not WILD and quote[i] in JOINING:
            # what joins two strings (" (" and ")" around a value) is no claim
            best[i + 1] = max(best[i + 1], best[i])
            after_value[i + 1] = max(after_value[i + 1], after_value[i])
        start = max(best[i], after_value[i])
        starts_word = i < n and _boundary(quote, i)
        for ci, code in enumerate(codes):
            row, ahead, m = f[ci], nxt[ci], len(code)
            if start >= 0 and starts_word:
                # the quote's first piece needs only MIN_EDGE_PIECE of its own
                fresh = (False, start, MIN_PIECE - MIN_EDGE_PIECE if i == 0 else 0, 0)
                for j in range(m + 1):
                    # a string is cut only where a value joins it (or the quote starts)
                    joins = j == 0 or code[j - 1] is WILD or (i == 0 and _boundary(code, j))
                    if joins:
                        row[j] = max(row[j], fresh)
            for j in range(m + 1):
                here = row[j]
                if here[1] < 0:
                    continue
                c = code[j] if j < m else ""
                if i < n and j < m and q is not WILD and q == c:
                    ahead[j + 1] = max(ahead[j + 1], step(here, q != " "))
                if j < m and c is WILD:
                    row[j + 1] = max(row[j + 1], here)
                    if i < n and _absorbable(quote, i):
                        taken = (*here[:3], here[3] - (q == " "))
                        ahead[j] = max(ahead[j], taken)
                if i < n and q is WILD:
                    ahead[j] = max(ahead[j], here)
                    if j < m:
                        row[j + 1] = max(row[j + 1], here)
        if i == n:  # the last piece may end inside a value of its string
            for code, row in zip(codes, f, strict=True):
                for j, (_, total, piece, spaces) in enumerate(row):
                    # a quote that ends inside a value: a value of a few words at most
                    if piece >= MIN_EDGE_PIECE and _boundary(code, j) and spaces >= -2:
                        best[n] = max(best[n], total)
            best[n] = max(best[n], after_value[n])
            break
        for ci, code in enumerate(codes):  # a piece ends on its string's own character
            for j in range(1, len(code) + 1):
                done, total, _, _ = nxt[ci][j]
                joins = j == len(code) or code[j] is WILD  # the string ends, or a value follows
                if done and code[j - 1] is not WILD and code[j - 1] == q and joins:
                    best[i + 1] = max(best[i + 1], total)
        f = nxt
    if best[n] < MIN_SHARED * words:
        return (
            f"no strings of src/ make it (they share {max(best[n], 0)} of its {words} characters)"
        )
    return None


def quoted_output() -> Iterator[tuple[str, str]]:
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == "output":
                first = text[: m.start()].count("\n") + 2
                for offset, line in enumerate(m.group(2).splitlines()):
                    if line.strip():
                        yield where(path, first + offset), line.strip()
        blanked = prose(text)
        for m in re.finditer(r"(?<!`)``(?!`)\s?(.+?)\s?(?<!`)``(?!`)", blanked, re.S):
            yield where(path, blanked[: m.start()].count("\n") + 1), " ".join(m.group(1).split())


@pytest.mark.parametrize(
    "quote",
    [
        # the line getting-started.md showed before the message was changed
        "Error: `videonet analyze` needs the analysis extra: pip install 'videonet[analysis]'",
        "take1.mov: uploaded; somebody is receiving: they will verify it soon enough",
        "Error: standard output went away: exit 1",
        "✓ take1.mov: 18.4 MB from alice, sha256 3f2a9c (92.3 MB/s) received and checked",
        "Error: not verified: take1.mov (nobody took it in time; run `videonet receive studio`)",
        "alice offers take1.mov (18.4 MB). Take it? [y/N]",
        "Error: cannot reach the server at http://127.0.0.1:7701 (Connection refused)",
        # words of two strings that are never joined ("not connected to the daemon", "… on the
        # media server: …")
        "connected to the media server for good",
    ],
)
def test_the_output_check_can_fail(quote: str) -> None:
    assert explained(quote) is not None


def test_the_output_the_docs_quote_is_what_the_code_prints() -> None:
    quotes = list(quoted_output())
    assert len(quotes) >= 20
    wrong = [
        f"{at}: {quote}\n    {problem}" for at, quote in quotes if (problem := explained(quote))
    ]
    assert wrong == [], "\n".join(wrong)


# -- the extras -----------------------------------------------------------------------------------

DOC_NAMES = {"opencv-python": "opencv"}  # a package as getting-started.md names it


def test_the_extras_table_lists_what_each_extra_brings() -> None:
    """getting-started.md's table of extras against pyproject.toml (it had lost obstore)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    text = (ROOT / "docs" / "getting-started.md").read_text()
    for extra, requirements in extras.items():
        if extra in ("test", "all"):
            continue
        row = re.search(rf"^\| `videonet\[{extra}\]` \| (.*?) \|", text, re.M)
        assert row, f"getting-started.md has no row for the {extra} extra"
        for requirement in requirements:
            name = re.split(r"[\[<>=!~ ]", requirement)[0].lower()
            if name == "videonet":  # another extra: "the above"
                continue
            assert DOC_NAMES.get(name, name) in row.group(1).lower(), f"{extra}: {name}"
