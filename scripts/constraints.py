"""Write constraints.txt: the exact version of every package `videonet[all,test]` pulls in, as
installed in this environment (the one the suite just passed in).

pyproject.toml says what we accept (`>=`); constraints.txt says what the suite last passed
with, and `make` installs with it (`pip install -c constraints.txt`), so CI and a fresh clone
get those versions and a library release cannot change the daemon under us unnoticed. To move
forward: `make constraints` upgrades everything within pyproject's ranges, runs `make test`,
and only then rewrites the file (docs/architecture.md, "Dependencies").

    python scripts/constraints.py [--check]

`--check` exits 1 and names the differences if the file does not match this environment.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "constraints.txt"
PROJECT = "videonet"
EXTRAS = ("all", "test")
HEADER = """\
# The versions `make test` last passed with (scripts/constraints.py wrote this from the venv).
# pyproject.toml keeps the ranges we accept; move these forward with `make constraints`.
"""


def top_level() -> list[Requirement]:
    """pyproject.toml's requirements with EXTRAS (read from the file: the installed metadata
    may be an older editable install's), the project's own extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    found: list[Requirement] = []
    todo, seen = list(EXTRAS), set()
    lines = list(project.get("dependencies", []))
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional.get(extra, []):
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == PROJECT:
                todo.extend(requirement.extras)
            else:
                lines.append(line)
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            found.append(requirement)
    return found


def pinned() -> dict[str, str]:
    """name -> installed version of every distribution the project (with EXTRAS) depends on,
    transitively."""
    found: dict[str, str] = {}
    todo = [(r.name, tuple(sorted(r.extras))) for r in top_level()]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a dependency whose marker did not apply here (another platform)
        found[canonicalize_name(dist.metadata["Name"])] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras)
            )
            if wanted:
                todo.append((requirement.name, tuple(sorted(requirement.extras))))
    return found


def render(versions: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={versions[name]}\n" for name in sorted(versions))


def main(argv: list[str]) -> int:
    text = render(pinned())
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current == text:
            return 0
        old, new = set(current.splitlines()), set(text.splitlines())
        for line in sorted(old - new):
            print(f"constraints.txt has {line}")
        for line in sorted(new - old):
            print(f"this environment has {line}")
        return 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({text.count(chr(10)) - 2} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
