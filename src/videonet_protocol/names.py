"""Names people choose (usernames, room names): their rules, and the key that makes them unique.

Two names are the same name when their keys are equal. The key is NFKC (compatibility forms
such as full-width letters become plain ones), then casefold (``Alice`` = ``alice``), then a
small *skeleton* map from Cyrillic and Greek letters that look like Latin ones to those Latin
letters (Cyrillic ``а`` = Latin ``a``), after UTS #39's confusable skeletons but only for the
scripts that spoof Latin names in practice. So ``аlice`` in Cyrillic, ``ALICE`` and ``ａｌｉｃｅ``
cannot be registered next to ``alice``. Usernames must also be written in one script (plus
digits and ``. _ -``), which refuses most other look-alikes outright, and no name may hold
control or format characters (zero-width joiners, bidi overrides) — `validation` refuses those.

Invisible and stacked characters follow UTS #39 (Unicode Security Mechanisms), read from
Unicode's own property tables through the `regex` module rather than a list kept here: no name
holds a Default_Ignorable_Code_Point (variation selectors, the combining grapheme joiner, Hangul
fillers, zero-width characters), and a username holds at most `MAX_MARKS_PER_BASE` nonspacing
marks after one base letter, never the same mark twice in a row (UTS #39 section 5.4). The key
folds what older names may still hold: default-ignorables are dropped, a mark repeated in a row
counts once and a run of marks is cut to `MAX_MARKS_PER_BASE`, so ``alice`` followed by a
variation selector or a grapheme joiner is ``alice``.
"""

from __future__ import annotations

import difflib
import functools
import heapq
import re
import unicodedata
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import regex

from videonet_protocol.i18n import N_
from videonet_protocol.protocol import ROOM_NAME_MAX_CHARS, USERNAME_MAX_CHARS

USERNAME_PUNCTUATION = "._-"

# Letters of other scripts that render like a Latin letter (lowercase, after casefold).
_SKELETON = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
        "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r",
        "с": "c", "ѕ": "s", "т": "t", "ц": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y", "ԁ": "d",
        "ɡ": "g", "ь": "b",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ϲ": "c", "ϳ": "j", "ω": "w",
        # Latin letters that pass for others
        "ı": "i", "ȷ": "j", "ſ": "s",
    }
)  # fmt: skip

# Scripts of letters, as the first word of their Unicode name; Japanese mixes three.
_SCRIPT_ALIASES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK"}


# UTS #39 section 5.4 suggests forbidding more than four nonspacing marks in a row; names are
# short, and no script needs more than three after NFKC (Vietnamese needs two, Thai two).
MAX_MARKS_PER_BASE = 3


class _Patterns(NamedTuple):
    invisible: regex.Pattern[str]
    visible: regex.Pattern[str]
    mark_repeated: regex.Pattern[str]
    mark_run: regex.Pattern[str]


@functools.cache
def _patterns() -> _Patterns:
    """Compiled when a name first needs them: importing `regex` and building its Unicode
    property tables cost every command ~8 ms of CPU, and an ASCII name needs none of them."""
    import regex

    return _Patterns(
        invisible=regex.compile(r"\p{Default_Ignorable_Code_Point}"),
        # What draws ink: letters, digits, punctuation and symbols, except the blank Braille
        # pattern (U+2800, a symbol that renders as nothing and is the usual "empty" name).
        visible=regex.compile(r"[[\p{L}\p{N}\p{P}\p{S}]--[\u2800]]", regex.V1),
        mark_repeated=regex.compile(r"([\p{Mn}\p{Me}])\1+"),
        mark_run=regex.compile(r"[\p{Mn}\p{Me}]{" + str(MAX_MARKS_PER_BASE + 1) + ",}"),
    )


# A room id as the daemon makes them (a UUID), in any case, with or without its dashes.
_ROOM_ID_SHAPE = re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


class BadName(ValueError):
    """A name that breaks a rule; its message is for the person who chose it.

    ``template`` is English marked with `N_` and its ``{fields}`` are ``params``, so the daemon
    answers it in the person's language; ``str()`` is the English line."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params) if params else template)


def name_key(name: str) -> str:
    """The form two names are compared in: equal keys are the same name."""
    # NFKC again after casefold: folding can leave a sequence that composes differently.
    visible = unicodedata.normalize("NFKC", fold_marks(unicodedata.normalize("NFKD", name)))
    folded = unicodedata.normalize("NFKC", visible.casefold())
    return " ".join(folded.translate(_SKELETON).split())


def fold_marks(name: str) -> str:
    """`name` without default-ignorable code points, a mark repeated in a row kept once and
    each run of marks cut to `MAX_MARKS_PER_BASE`: what a name that breaks those rules reads as.
    Marks are counted as written; pass a decomposed (NFD/NFKD) name to count composed ones."""
    if name.isascii():  # no default-ignorable code point and no mark is ASCII
        return name
    p = _patterns()
    visible: str = p.mark_repeated.sub(r"\1", p.invisible.sub("", name))
    cut: str = p.mark_run.sub(lambda m: m.group(0)[:MAX_MARKS_PER_BASE], visible)
    return cut


def _check_visible(name: str, invisible: str, stacked: str) -> None:
    """BadName when `name` holds an invisible code point (`invisible`, a sentence with a
    ``{character}`` field) or a stack of marks (`stacked`, with ``{most}``) (UTS #39)."""
    p = _patterns()
    hidden = p.invisible.search(name)
    if hidden is not None:
        ch = hidden.group(0)
        label = unicodedata.name(ch, f"U+{ord(ch):04X}").lower()
        raise BadName(invisible, character=label)
    # Counted decomposed, so that a composed letter (é) and its own accent count as one mark.
    decomposed = unicodedata.normalize("NFD", name)
    if p.mark_repeated.search(decomposed) or p.mark_run.search(decomposed):
        raise BadName(stacked, most=MAX_MARKS_PER_BASE)


def script_of(ch: str) -> str | None:
    """The script of a letter (LATIN, CYRILLIC, ...), or None for digits and punctuation."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    word = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
    return _SCRIPT_ALIASES.get(word, word)


def clean_username(raw: str) -> str:
    """The username as it will be shown (NFKC), or BadName saying which rule it breaks."""
    name = unicodedata.normalize("NFKC", raw.strip())
    if not name:
        raise BadName(N_("username is required"))
    for ch in name:
        category = unicodedata.category(ch)
        if not (category[0] in "LMN" or ch in USERNAME_PUNCTUATION):
            allowed = " ".join(USERNAME_PUNCTUATION)
            if ch.isspace():
                raise BadName(
                    N_("username may hold only letters, digits and {allowed}, not a space"),
                    allowed=allowed,
                )
            raise BadName(
                N_("username may hold only letters, digits and {allowed}, not {character}"),
                allowed=allowed,
                character=repr(ch),
            )
    if len(name) > USERNAME_MAX_CHARS:  # NFKC can make one character eighteen (U+FDFA)
        raise BadName(
            N_("username must be at most {most} characters written out"), most=USERNAME_MAX_CHARS
        )
    if not unicodedata.category(name[0]).startswith(("L", "N")):
        raise BadName(N_("username must start with a letter or a digit"))
    _check_visible(
        name,
        N_("username holds an invisible character ({character})"),
        N_("username stacks combining marks (at most {most} after a letter, none twice in a row)"),
    )
    scripts = {s for ch in name if (s := script_of(ch)) is not None}
    if len(scripts) > 1:
        raise BadName(
            N_(
                "username mixes scripts ({scripts}); write it in one script so it cannot pass "
                "for another name"
            ),
            scripts=", ".join(sorted(s.title() for s in scripts)),
        )
    return name


def clean_room_name(raw: str) -> str:
    """A room name as it will be shown: NFKC, inner runs of spaces made one; BadName when it
    holds invisible characters or stacked marks."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if len(name) > ROOM_NAME_MAX_CHARS:  # NFKC can make one character eighteen (U+FDFA)
        raise BadName(
            N_("room name must be at most {most} characters written out"), most=ROOM_NAME_MAX_CHARS
        )
    if _ROOM_ID_SHAPE.fullmatch(name):
        # Rooms are looked up by id or by name: a name that reads as an id would stand in for
        # that room for anyone who cannot see it yet (a private room they are about to join).
        raise BadName(N_("room name must not look like a room id"))
    if name and unicodedata.category(name[0]).startswith("M"):
        raise BadName(N_("room name must not start with a combining mark"))
    if name and not any(_patterns().visible.match(ch) for ch in name):
        raise BadName(N_("room name must hold a visible character"))
    _check_visible(
        name,
        N_("room name holds an invisible character ({character})"),
        N_("room name stacks combining marks (at most {most} after a letter, none twice in a row)"),
    )
    return name


# How many names, most alike by shared letter pairs, difflib then ranks properly: difflib alone
# took 0.45 s for one miss among 5,000 similar names (bench/rooms_lookup.py).
CLOSE_NAME_CANDIDATES = 20


def _pairs(key: str) -> set[str]:
    padded = f" {key} "
    return {padded[i : i + 2] for i in range(len(padded) - 1)}


def close_names(wanted: str, names: list[tuple[str, str]], limit: int = 3) -> list[str]:
    """Names that look like `wanted` (a typo, a different case), best first; `names` holds
    (name, its name_key) pairs."""
    by_key: dict[str, str] = {}
    for name, key in names:
        by_key.setdefault(key, name)
    target = name_key(wanted)
    wanted_pairs = _pairs(target)
    candidates = heapq.nlargest(
        CLOSE_NAME_CANDIDATES, by_key, key=lambda k: len(wanted_pairs & _pairs(k))
    )
    keys = difflib.get_close_matches(target, candidates, n=limit, cutoff=0.6)
    return [by_key[k] for k in keys]
