"""The kind of claim that slipped in the docs (issue 27: 8 of 40 tried were false), each checked
against the code:

- every `VIDEONET_*` variable the docs name is declared (the daemon's `Settings`, the CLI's
  `config.ENVIRONMENT`, the analysis `SETTINGS`), every declared one is documented, and every
  one the code reads is declared (ci.md named a `VIDEONET_JWT_TTL` that never existed);
- every `videonet …` command line in the docs names commands and options that exist, with no more
  arguments than the command takes;
- what the docs quote as the program's output is what the code prints (the missing-extra line of
  getting-started.md was an older message): a fenced block marked `output`, and a message quoted
  inline in ``double backticks``, is checked against the strings in src/ (see `explained`); in a
  translated page (`NAME.ko.md`, `NAME.ja.md`) against what the program prints in that language:
  the catalogue's translations, and the code's strings that no catalogue holds (see `printed_in`);
- every link between the docs points at a file and a heading that exist.

The light install's measured size is in test_light_install.py.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from collections.abc import Iterator
from functools import cache
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
from videonet_protocol.i18n import LANGUAGES

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
    """A string expression as literal parts and None for each value put in (an f-string's, or a
    `{field}` of a string formatted later); None if it is not a string expression."""
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


def code_strings_printed() -> dict[str, tuple[Text, str | None]]:
    """Every string expression of src/ (not docstrings) with a few words of its own, and the
    usage errors of the command-line library (its "No such option: …"), and the web page's:
    each as its characters, and the whole literal when it is one (a catalogue's msgid is)."""
    found: dict[str, tuple[Text, str | None]] = {}
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
            whole = node.value if isinstance(node, ast.Constant) else None
            found.setdefault(repr(parts), (_chars(parts), whole))
    for path in sorted((ROOT / "src").rglob("*.js")):
        if path.name.endswith(".min.js"):  # a vendored library
            continue
        for parts in _js_strings(path.read_text()):
            if len("".join(p for p in parts if p is not None).split()) >= 2:
                whole = parts[0] if len(parts) == 1 else None
                found.setdefault(repr(parts), (_chars(parts), whole))
    return found


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


CODE_STRINGS = code_strings_printed()
PRINTED = [chars for chars, _ in CODE_STRINGS.values()]
# The dispatcher's "Error: " in front of a message (videonet_protocol.command_line).
ERROR_PREFIX = "Error: "
# A page in another language: NAME.ko.md (docs/i18n.md, "Translating a page").
TRANSLATED_PAGE = re.compile(rf"\.({'|'.join(LANGUAGES)})\.md$")


def language_of(path: Path) -> str:
    """The language a page is written in: `getting-started.ko.md` is Korean."""
    m = TRANSLATED_PAGE.search(path.name)
    return m.group(1) if m else "en"


def catalogue_messages(language: str) -> tuple[set[str], list[tuple[str, str]]]:
    """Every msgid of the language's catalogues (src/*/locale/LANG/LC_MESSAGES/*.po, read with
    Babel), and each translation with its msgid (every plural form; untranslated and fuzzy
    entries left out)."""
    from babel.messages.pofile import read_po

    ids: set[str] = set()
    translations: list[tuple[str, str]] = []
    for po in sorted((ROOT / "src").glob(f"*/locale/{language}/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            catalogue = read_po(fh, locale=language)
        for message in catalogue:
            if not message.id:  # the header
                continue
            english = message.id if isinstance(message.id, tuple) else (message.id,)
            ids.update(english)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not message.fuzzy:
                translations += [(english[0], s) for s in strings if s]
    return ids, translations


# The dispatcher's prefix as a catalogue holds it: "Error: ", or "Error: {message}".
ERROR_MESSAGE = re.compile(r"^Error: (\{\w*\})?$")


Printed = tuple[list[Text], tuple[str, ...]]  # the strings, and the "Error: " prefixes


def printed_for(
    ids: set[str],
    translations: list[tuple[str, str]],
    code: dict[str, tuple[Text, str | None]] = CODE_STRINGS,
) -> Printed:
    """What the program prints in a language whose catalogues hold ``ids``, translated as
    ``translations`` (msgid, text): those translations (their `{fields}` are values), and the
    code's strings that are no msgid (never translated: the daemon's lines for operators). A
    message the catalogue holds is never English there, translated yet or not. And the
    "Error: " in front of a message as that language says it, besides the English one."""
    printed = [_chars(_with_fields(text)) for _, text in translations]
    printed += [chars for chars, whole in code.values() if whole not in ids]
    prefixes = {ERROR_PREFIX}
    for english, text in translations:
        m = ERROR_MESSAGE.match(english)
        if m and (m.group(1) or "") in text:
            prefixes.add(text.split(m.group(1), 1)[0] if m.group(1) else text)
    return printed, tuple(sorted(prefixes, key=len, reverse=True))


@cache
def printed_in(language: str) -> Printed:
    """The strings the program prints in ``language`` and its "Error: " prefixes."""
    if language == "en":
        return PRINTED, (ERROR_PREFIX,)
    return printed_for(*catalogue_messages(language))


def _absorbable(quote: Text, i: int) -> bool:
    """Whether a value of the code may take quote[i]: not the ": " or "; " between clauses."""
    return not (quote[i] in (":", ";") and i + 1 < len(quote) and quote[i + 1] == " ")


def _boundary(text: Text, k: int) -> bool:
    """Whether position k of ``text`` is not inside a word (pieces start and end on words)."""
    if k <= 0 or k >= len(text):
        return True
    before, after = text[k - 1], text[k]
    return before is WILD or after is WILD or not (before.isalnum() and after.isalnum())


_GRAMS: dict[int, tuple[list[Text], list[tuple[Text, frozenset[str]]]]] = {}


def _grams_of(strings: list[Text]) -> list[tuple[Text, frozenset[str]]]:
    """Each string with its GRAM-character runs (a value as NUL), worked out once per list."""
    cached = _GRAMS.get(id(strings))
    if cached is None or cached[0] is not strings:
        runs = [
            (code, frozenset("".join(c or "\x00" for c in code[k : k + GRAM])
                             for k in range(len(code) - GRAM + 1)))
            for code in strings
        ]  # fmt: skip
        cached = _GRAMS[id(strings)] = (strings, runs)
    return cached[1]


def explained(quote_text: str, language: str = "en", printed: Printed | None = None) -> str | None:
    """None when the code's strings explain the quote, else why not (in a translated page, the
    strings the program prints in its ``language``: `printed_in`; or ``printed``).

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
    strings, prefixes = printed or printed_in(language)
    for prefix in prefixes:
        if quote_text.startswith(prefix):
            quote_text = quote_text[len(prefix) :]
            break
    body = " ".join(quote_text.split())
    quote: Text = [WILD if c == "…" else c for c in body]
    n = len(quote)
    words = sum(1 for c in quote if c is not WILD and c != " ")
    grams = {body[k : k + GRAM] for k in range(len(body) - GRAM + 1)}  # the strings to try
    codes = [code for code, its in _grams_of(strings) if not its.isdisjoint(grams)]
    # A state: (whether the current piece has MIN_PIECE shared characters yet, the characters
    # shared so far, those of the current piece); the larger is kept. f[c][j]: at code c's
    # position j, having read quote[:i].
    Key = tuple[bool, int, int, int]  # … and minus the spaces the current value has taken
    none: Key = (False, -1, 0, 0)
    best = [-1] * (n + 1)  # best[i]: the most shared by whole pieces making quote[:i]
    best[0] = 0
    after_value = [-1] * (n + 1)  # the same, then one value (never two values in a row)
    # None for a string with no state at all (most of them, most of the time): it is skipped
    # until a piece may start in it again.
    f: list[list[Key] | None] = [None] * len(codes)
    # Where a piece may start in each string after the quote's first character: its start, and
    # after each value.
    joins_at = [[j for j in range(len(c) + 1) if j == 0 or c[j - 1] is WILD] for c in codes]

    def step(key: Key, gain: int) -> Key:
        piece = key[2] + gain
        return (piece >= MIN_PIECE, key[1] + gain, piece, 0)

    for i in range(n + 1):
        nxt: list[list[Key] | None] = [None] * len(codes)
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
        seed = start >= 0 and starts_word
        for ci, code in enumerate(codes):
            m, row = len(code), f[ci]
            if row is None:
                if not seed:
                    continue
                row = [none] * (m + 1)
            ahead = nxt[ci] = [none] * (m + 1)
            if seed:
                # the quote's first piece needs only MIN_EDGE_PIECE of its own
                fresh = (False, start, MIN_PIECE - MIN_EDGE_PIECE if i == 0 else 0, 0)
                for j in range(m + 1) if i == 0 else joins_at[ci]:
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
            f[ci] = row
            if ahead.count(none) == m + 1:
                nxt[ci] = None
        if i == n:  # the last piece may end inside a value of its string
            for code, last in zip(codes, f, strict=True):
                for j, (_, total, piece, spaces) in enumerate(last or ()):
                    # a quote that ends inside a value: a value of a few words at most
                    if piece >= MIN_EDGE_PIECE and _boundary(code, j) and spaces >= -2:
                        best[n] = max(best[n], total)
            best[n] = max(best[n], after_value[n])
            break
        for ci, code in enumerate(codes):  # a piece ends on its string's own character
            if (ahead := nxt[ci]) is None:
                continue
            for j in range(1, len(code) + 1):
                done, total, _, _ = ahead[j]
                joins = j == len(code) or code[j] is WILD  # the string ends, or a value follows
                if done and code[j - 1] is not WILD and code[j - 1] == q and joins:
                    best[i + 1] = max(best[i + 1], total)
        f = nxt
    if best[n] < MIN_SHARED * words:
        return (
            f"no strings of src/ make it (they share {max(best[n], 0)} of its {words} characters)"
        )
    return None


def quoted_output() -> Iterator[tuple[str, str, str]]:
    """(where, the quote, the language of its page) for every quote of the program's output."""
    for path in DOCS:
        text = path.read_text()
        language = language_of(path)
        for m in FENCE.finditer(text):
            if m.group(1) == "output":
                first = text[: m.start()].count("\n") + 2
                for offset, line in enumerate(m.group(2).splitlines()):
                    if line.strip():
                        yield where(path, first + offset), line.strip(), language
        blanked = prose(text)
        for m in re.finditer(r"(?<!`)``(?!`)\s?(.+?)\s?(?<!`)``(?!`)", blanked, re.S):
            at = where(path, blanked[: m.start()].count("\n") + 1)
            yield at, " ".join(m.group(1).split()), language


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


def test_a_translated_page_quotes_what_the_program_prints_in_its_language() -> None:
    """In a ko page, a message a catalogue holds is explained by its translation, not by its
    English (nor by a translation of another message); a line no catalogue holds, as the
    daemon's for operators, by the code; and "오류: " stands for "Error: "."""
    message = "cannot reach the daemon at {server} ({reason})"
    code = {
        "message": (_chars(_with_fields(message)), message),
        "operators": (_chars(["videonet-daemon listening on ", None]), None),
    }
    translations = [
        (message, "데몬에 연결할 수 없습니다({server}, {reason})"),
        ("Error: ", "오류: "),
        ("not logged in to {server}", "로그인하지 않았습니다: {server}"),
    ]
    printed = printed_for({m for m, _ in translations}, translations, code)
    assert (
        explained("오류: 데몬에 연결할 수 없습니다(http://127.0.0.1:7701, …)", printed=printed)
        is None
    )
    assert explained("videonet-daemon listening on http://127.0.0.1:7701", printed=printed) is None
    english = "cannot reach the daemon at http://127.0.0.1:7701 (Connection refused)"
    assert explained(english, printed=printed) is not None
    assert explained(english, printed=printed_for(set(), [], code)) is None  # not catalogued
    assert (
        explained("데몬에 로그인하지 않았습니다(http://127.0.0.1:7701)", printed=printed)
        is not None
    )


def test_the_output_the_docs_quote_is_what_the_code_prints() -> None:
    quotes = list(quoted_output())
    assert len(quotes) >= 20
    assert {language for _, _, language in quotes} == set(LANGUAGES)
    wrong = [
        f"{at}: {quote}\n    {problem}"
        for at, quote, language in quotes
        if (problem := explained(quote, language))
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
