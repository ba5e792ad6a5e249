"""The message catalogues are complete, and every word a person reads goes through them.

Two checks that fail on a missed string: the sources' marked words against the ko/ja
catalogues (missing, untranslated, fuzzy, stale, or with other ``{fields}``), and the code's
user-facing calls against unmarked text (an English literal handed to an error, a help text,
a print or a prompt).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalogues import script
from videonet_protocol.i18n import from_accept_language, from_posix, normalize, pick

pytestmark = pytest.mark.one_pass("the catalogues and the code's words: no database")

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "src" / "videonet_cli"


def test_catalogues_have_every_marked_word_translated() -> None:
    problems = list(script().problems())
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


# Calls whose text arguments a person reads. A literal with words in it, or an f-string, passed
# to one of these must be `_(...)` / `ngettext(...)` (the checker names file and line).
READ_BY_PEOPLE = {
    "echo",
    "secho",
    "print",
    "error_line",
    "prompt",
    "confirm",
    "ask",
    "add_column",
    "Panel",
    "Table",
    "Rule",
}
HELP_KEYWORDS = {"help", "short_help", "epilog", "title", "caption", "prompt", "description"}


def _has_words(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
        return sum(ch.isalpha() for ch in text) >= 2 and not text.startswith(("[", "#", "--"))
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(part) for part in node.values if isinstance(part, ast.Constant))
    return False


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _error_classes() -> set[str]:
    names = set()
    for path in CLI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(
                ("Error", "Refused", "Interrupted", "Deleted", "Extra", "Offer", "Recording")
            ):
                names.add(node.name)
    return names


def unmarked(path: Path, errors: set[str]) -> Iterator[str]:
    """Each English literal in ``path`` that reaches a person without the catalogue."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT).as_posix()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and _name(decorator.func) in ("command", "callback")
                    and not any(k.arg == "help" for k in decorator.keywords)
                    and ast.get_docstring(node)
                ):
                    yield f"{where}:{node.lineno}: command help from a docstring (use help=_(...))"
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name in READ_BY_PEOPLE or name in errors:
            for arg in node.args:
                if _has_words(arg):
                    yield f"{where}:{arg.lineno}: {name}({ast.unparse(arg)[:60]})"
        for keyword in node.keywords:
            if keyword.arg in HELP_KEYWORDS and _has_words(keyword.value):
                text = ast.unparse(keyword.value)[:60]
                yield f"{where}:{keyword.value.lineno}: {keyword.arg}={text}"


def test_cli_words_go_through_the_catalogue() -> None:
    errors = _error_classes()
    found = [line for path in sorted(CLI.rglob("*.py")) for line in unmarked(path, errors)]
    assert found == [], "\n".join(found[:40]) + f"\n({len(found)} in all)"


def test_the_checker_finds_an_unmarked_word(tmp_path: Path) -> None:
    probe = CLI / "_i18n_probe_.py"
    probe.write_text(
        "from videonet_cli.errors import UsageError\n"
        "def f(x):\n"
        '    raise UsageError(f"no such room {x}")\n',
        encoding="utf-8",
    )
    try:
        found = list(unmarked(probe, {"UsageError"}))
    finally:
        probe.unlink()
    assert len(found) == 1 and "no such room" in found[0]


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("ko_KR.UTF-8", "ko"),
        ("ja_JP.eucJP", "ja"),
        ("ja-JP", "ja"),
        ("en_GB.UTF-8", "en"),
        ("C", None),
        ("POSIX", None),
        ("C.UTF-8", None),
        ("fr_FR.UTF-8", None),
        ("", None),
        ("ko\x00", None),
        ("../../etc", None),
    ],
)
def test_a_locale_names_its_language(tag: str, language: str | None) -> None:
    assert normalize(tag) == language


def test_posix_order_is_lc_all_then_lc_messages_then_lang() -> None:
    assert from_posix({"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "ko_KR.UTF-8"}) == "ko"
    assert from_posix({"LANG": "ja_JP.UTF-8", "LC_ALL": "en_US.UTF-8"}) == "en"
    # The first one set decides, even when it names no catalogue of ours.
    assert from_posix({"LC_ALL": "fr_FR.UTF-8", "LANG": "ko_KR.UTF-8"}) is None
    assert pick([from_posix({"LC_ALL": "fr_FR.UTF-8", "LANG": "ko_KR.UTF-8"})]) == "en"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("fr-FR,ja;q=0.5,ko;q=0.4", "ja"),
        ("en;q=0.1, ja", "ja"),
        ("ja;q=0, ko;q=0.2", "ko"),
        ("*", None),
        ("", None),
        ("ko;q=abc", None),
        ("x" * 5000, None),
    ],
)
def test_accept_language_picks_the_best_known(header: str, language: str | None) -> None:
    assert from_accept_language(header) == language
