"""constraints.txt pins every package pyproject.toml asks for, within pyproject's ranges, and
`make` installs with it (so CI and a fresh clone get the versions the suite passed with)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.one_pass("code shape, docs, install: no database")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import constraints  # noqa: E402  (scripts/constraints.py, which writes the file)


def pins() -> dict[str, Version]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = Version(version)
    return found


def test_every_requirement_is_pinned_within_its_range() -> None:
    pinned = pins()
    wrong = []
    for requirement in constraints.top_level():
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            wrong.append(f"{name}: not in constraints.txt")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            wrong.append(f"{name}=={pinned[name]} is outside pyproject's {requirement.specifier}")
    assert wrong == [], "run `make constraints`:\n" + "\n".join(wrong)


def test_make_installs_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install [^\n]*-e '\.\[all,test\]'", makefile)
    assert installs, "the Makefile no longer installs the project"
    first = installs[0]
    assert "-c constraints.txt" in first, first
