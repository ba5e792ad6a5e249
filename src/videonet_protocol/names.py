"""Names people choose (usernames, room names): their rules, and the key that makes them unique.

Two names are the same name when their keys are equal. The key is NFKC (compatibility forms
such as full-width letters become plain ones), then casefold (``Alice`` = ``alice``), then a
small *skeleton* map from Cyrillic and Greek letters that look like Latin ones to those Latin
letters (Cyrillic ``а`` = Latin ``a``), after UTS #39's confusable skeletons but only for the
scripts that spoof Latin names in practice. So ``аlice`` in Cyrillic, ``ALICE`` and ``ａｌｉｃｅ``
cannot be registered next to ``alice``. Usernames must also be written in one script (plus
digits and ``. _ -``), which refuses most other look-alikes outright, and no name may hold
control or format characters (zero-width joiners, bidi overrides) — `validation` refuses those.
Standard library only: the migrations use this module too.
"""

from __future__ import annotations

import difflib
import heapq
import unicodedata

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


class BadName(ValueError):
    """A name that breaks a rule; its message is for the person who chose it."""


def name_key(name: str) -> str:
    """The form two names are compared in: equal keys are the same name."""
    # NFKC again after casefold: folding can leave a sequence that composes differently.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.translate(_SKELETON).split())


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
        raise BadName("username is required")
    for ch in name:
        category = unicodedata.category(ch)
        if not (category[0] in "LMN" or ch in USERNAME_PUNCTUATION):
            shown = "a space" if ch.isspace() else repr(ch)
            raise BadName(
                f"username may hold only letters, digits and {' '.join(USERNAME_PUNCTUATION)}, "
                f"not {shown}"
            )
    if not unicodedata.category(name[0]).startswith(("L", "N")):
        raise BadName("username must start with a letter or a digit")
    scripts = {s for ch in name if (s := script_of(ch)) is not None}
    if len(scripts) > 1:
        raise BadName(
            "username mixes scripts (" + ", ".join(sorted(s.title() for s in scripts)) + "); "
            "write it in one script so it cannot pass for another name"
        )
    return name


def clean_room_name(raw: str) -> str:
    """A room name as it will be shown: NFKC, inner runs of spaces made one."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())


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
