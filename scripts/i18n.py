"""The message catalogues: extract, update, compile and check them (Babel's Python API).

    python scripts/i18n.py update    extract every domain's words and update the ko/ja .po files
    python scripts/i18n.py compile   .po -> .mo beside them (the wheel's build hook does the same)
    python scripts/i18n.py check     exit 1 listing missing, untranslated, fuzzy or stale entries
    python scripts/i18n.py merge BASE OURS THEIRS   git's merge driver for .po files

This is ``pybabel extract / update / compile`` with the repository's configuration in one place
(`DOMAINS`), so a translator and CI run the same thing. docs/i18n.md explains the workflow.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
TRANSLATED = ("ko", "ja")
# Python: `_` and `N_` take one message, `ngettext` a singular and a plural.
PYTHON_KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "N_": None, "ngettext": (1, 2)}
# click and typer call the stdlib's gettext names.
CLICK_KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "gettext": None, "ngettext": (1, 2)}
# The web page: `t("…")` and `tn("singular", "plural", n)` (static/i18n.js).
WEB_KEYWORDS: dict[str, tuple[int, ...] | None] = {"t": None, "tn": (1, 2)}
# `{name}` fields of str.format (and the page's own {name} fields).
_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)?(?:[!:][^{}]*)?\}(?!\})")


@dataclass(frozen=True)
class Domain:
    """One catalogue: where its .po files live and which sources its words come from."""

    name: str
    localedir: Path
    method: str  # "python" or "javascript"
    keywords: dict[str, tuple[int, ...] | None]

    def sources(self) -> list[Path]:
        if self.name == "videonet_click":
            # typer >= 0.29 runs its own copy of click (typer._click), whose words are
            # hard-coded English: typer's modules mark theirs with gettext, and our adapter says
            # click's through gettext too (videonet_protocol/adapters/typer.py).
            import typer

            protocol = SRC / "videonet_protocol"
            typer_modules = Path(typer.__file__ or "").parent.glob("*.py")
            return [
                *sorted(path for path in typer_modules if not path.name.startswith("_win")),
                protocol / "adapters" / "typer.py",
                protocol / "command_line.py",
            ]
        if self.name == "videonet_web":
            static = SRC / "videonet_daemon" / "web" / "static"
            return sorted(
                p
                for p in [*static.glob("*.js"), *static.glob("*.html")]
                if not p.name.endswith(".min.js") and p.name not in ("i18n-data.js",)
            )
        package = SRC / ("videonet_cli" if self.name == "videonet_cli" else "videonet_daemon")
        found = sorted(package.rglob("*.py"))
        if self.name == "videonet_daemon":
            found += sorted((SRC / "videonet_protocol").rglob("*.py"))
        return found

    def po_path(self, language: str) -> Path:
        return self.localedir / language / "LC_MESSAGES" / f"{self.name}.po"


CLI_LOCALE = SRC / "videonet_cli" / "locale"
DAEMON_LOCALE = SRC / "videonet_daemon" / "locale"
DOMAINS = (
    Domain("videonet_cli", CLI_LOCALE, "python", PYTHON_KEYWORDS),
    Domain("videonet_click", CLI_LOCALE, "python", CLICK_KEYWORDS),
    Domain("videonet_daemon", DAEMON_LOCALE, "python", PYTHON_KEYWORDS),
    Domain("videonet_web", DAEMON_LOCALE, "javascript", WEB_KEYWORDS),
)


def extract(domain: Domain):  # type: ignore[no-untyped-def]
    """The domain's catalogue template: every marked message in its sources."""
    from babel.messages.extract import extract as babel_extract

    catalog = _new_catalog(None)
    for path in domain.sources():
        # Installed packages (typer) by package and file, wherever the venv is.
        if "site-packages" in path.parts or not path.is_relative_to(ROOT):
            where = f"{path.parent.name}/{path.name}"
        else:
            where = str(path.relative_to(ROOT))
        # index.html's words are marked with data-i18n attributes (static/i18n.js reads them).
        method = extract_html if path.suffix == ".html" else domain.method
        with path.open("rb") as fh:
            for lineno, message, comments, context in babel_extract(
                method,
                fh,
                keywords=domain.keywords,
                comment_tags=("Translators:",),
                # `${t("…")}` inside a template string is a message too.
                options={"encoding": "utf-8", "parse_template_string": "true"},
            ):
                if not message or (isinstance(message, str) and not message.strip()):
                    continue
                catalog.add(
                    message,
                    None,
                    [(where, lineno)],
                    auto_comments=comments,
                    context=context,
                    flags=("python-brace-format",) if _fields(_first(message)) else (),
                )
    return catalog


def extract_html(fileobj, keywords, comment_tags, options):  # type: ignore[no-untyped-def]
    """Babel extraction method for the page's HTML: the text of each element with a
    ``data-i18n`` attribute (whitespace collapsed, as static/i18n.js reads it) and the
    attributes named in ``data-i18n-attrs`` ("placeholder aria-label title")."""
    from html.parser import HTMLParser

    del keywords, comment_tags
    found: list[tuple[int, str]] = []

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.open: list[tuple[str, int, list[str]]] = []  # tag, line, text so far

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            named = dict(attrs)
            line = self.getpos()[0]
            for attr in (named.get("data-i18n-attrs") or "").split():
                if named.get(attr):
                    found.append((line, str(named[attr])))
            for entry in self.open:
                entry[2].append("")  # a child element's text counts as its parent's
            if "data-i18n" in named:
                self.open.append((tag, line, []))

        def handle_endtag(self, tag: str) -> None:
            if self.open and self.open[-1][0] == tag:
                _, line, parts = self.open.pop()
                text = " ".join("".join(parts).split())
                if text:
                    found.append((line, text))

        def handle_data(self, data: str) -> None:
            for entry in self.open:
                entry[2].append(data)

    parser = Parser()
    parser.feed(fileobj.read().decode(options.get("encoding", "utf-8")))
    parser.close()
    for line, text in found:
        yield line, "t", text, []


def _new_catalog(language: str | None):  # type: ignore[no-untyped-def]
    from babel.messages.catalog import Catalog

    return Catalog(
        locale=language,
        project="videonet",
        version="0.1",
        copyright_holder="the VideoNet authors",
        msgid_bugs_address="the project's issue tracker",
        charset="utf-8",
        fuzzy=False,
    )


def _first(message: str | tuple[str, ...]) -> str:
    return message if isinstance(message, str) else message[0]


def _fields(text: str) -> set[str]:
    return {m.group(1) or "" for m in _FIELD.finditer(text)}


def _read(path: Path):  # type: ignore[no-untyped-def]
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        # git's merge driver hands over temporary files: the header's Language says it then.
        language = path.parent.parent.name
        return read_po(fh, locale=language if language in TRANSLATED else None, charset="utf-8")


def _write(path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, sort_output=True, include_lineno=False, width=100)
    _replace(path, buffer.getvalue())


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (several test workers may compile at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update() -> None:
    """Extract each domain and bring its ko/ja .po files up to date (new entries untranslated)."""
    for domain in DOMAINS:
        template = extract(domain)
        for language in TRANSLATED:
            path = domain.po_path(language)
            catalog = _read(path) if path.exists() else _new_catalog(language)
            # The header keeps its date unless the words change: fewer conflicts between branches.
            template.creation_date = catalog.creation_date
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            _write(path, catalog)
            print(f"{path.relative_to(ROOT)}: {len(catalog)} messages")


def compile_all(quiet: bool = True) -> list[Path]:
    """Compile every .po whose .mo is missing or older; returns the .mo files."""
    from babel.messages.mofile import write_mo

    written: list[Path] = []
    for domain in DOMAINS:
        for language in TRANSLATED:
            po = domain.po_path(language)
            if not po.exists():
                continue
            mo = po.with_suffix(".mo")
            written.append(mo)
            if mo.exists() and mo.stat().st_mtime_ns >= po.stat().st_mtime_ns:
                continue
            buffer = io.BytesIO()
            write_mo(buffer, _read(po), use_fuzzy=False)
            _replace(mo, buffer.getvalue())
            if not quiet:
                print(f"compiled {mo.relative_to(ROOT)}")
    return written


def problems() -> Iterator[str]:
    """Every way the catalogues fall short of the sources, one line each."""
    for domain in DOMAINS:
        template = extract(domain)
        wanted = {message.id for message in template if message.id}
        for language in TRANSLATED:
            path = domain.po_path(language)
            where = str(path.relative_to(ROOT))
            if not path.exists():
                if wanted:
                    yield f"{where}: missing ({len(wanted)} messages to translate)"
                continue
            catalog = _read(path)
            have = {message.id for message in catalog if message.id}
            for msgid in sorted(wanted - have, key=str):
                yield f"{where}: not in the catalogue: {_first(msgid)!r}"
            for msgid in sorted(have - wanted, key=str):
                yield f"{where}: no longer in the sources: {_first(msgid)!r}"
            for message in catalog:
                if not message.id or message.id not in wanted:
                    continue
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                label = repr(_first(message.id))
                if message.fuzzy:
                    yield f"{where}: fuzzy: {label}"
                elif not all(strings):
                    yield f"{where}: untranslated: {label}"
                else:
                    expected = _fields(_first(message.id))
                    # A language with one plural form uses it for every count: it may name the
                    # plural's fields too ("Trust these {n} identities").
                    allowed = expected | (
                        _fields(message.id[-1]) if isinstance(message.id, tuple) else set()
                    )
                    for text in strings:
                        if not expected <= _fields(text) <= allowed:
                            got = sorted(_fields(text))
                            yield f"{where}: fields {got} != {sorted(expected)}: {label}"
                            break


def merge(base: str, ours: str, theirs: str) -> int:
    """git's merge driver: a three-way merge entry by entry (ours wins where both changed one).

    An entry only one side added, changed or removed takes that side's version; an entry
    untranslated on our side takes their translation.
    """
    old = {m.id: m for m in _read(Path(base)) if m.id}
    mine = _read(Path(ours))
    other = {m.id: m for m in _read(Path(theirs)) if m.id}
    for msgid, message in other.items():
        existing = mine.get(msgid, message.context)
        before = old.get(msgid)
        if existing is None:
            if before is None:  # added by them
                mine[msgid] = message
            continue  # else removed by us
        theirs_changed = before is None or _strings(before) != _strings(message)
        ours_changed = before is not None and _strings(before) != _strings(existing)
        if (theirs_changed and not ours_changed) or (
            not all(_strings(existing)) and all(_strings(message))
        ):
            # Catalog.__setitem__ would keep the existing msgstr: take theirs explicitly.
            existing.string = message.string
            existing.flags = set(message.flags)
    for msgid, before in old.items():
        existing = mine.get(msgid, before.context)
        if msgid not in other and existing is not None and _strings(existing) == _strings(before):
            mine.delete(msgid, before.context)  # removed by them, untouched by us
    _write(Path(ours), mine)
    return 0


def _strings(message) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return message.string if isinstance(message.string, tuple) else (message.string,)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "update":
        update()
        return 0
    if command == "compile":
        compile_all(quiet=False)
        return 0
    if command == "check":
        found = list(problems())
        for line in found:
            print(line)
        print(f"{len(found)} problems" if found else "catalogues complete")
        return 1 if found else 0
    if command == "merge" and len(argv) == 4:
        return merge(*argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
