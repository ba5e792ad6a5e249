"""Turn per-frame facts into what the clip shows: who, how many, what happens, where."""

from __future__ import annotations

from collections.abc import Sequence

from videonet_cli.analysis.results import FrameResult, Summary

UNKNOWN = "unknown (offline)"


def _distinct(values: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        key = value.strip()
        if key and key != UNKNOWN and key.lower() not in {k.lower() for k in seen}:
            seen[key] = None
    return list(seen)


def summarise(frames: Sequence[FrameResult]) -> Summary:
    """A summary over frames (numbered from 1 as the user sees them)."""
    with_people = [f.index + 1 for f in frames if f.facts and f.facts.has_person]
    without = [f.index + 1 for f in frames if f.facts and not f.facts.has_person]
    failed = [f.index + 1 for f in frames if f.facts is None]
    counts = [f.facts.people_count for f in frames if f.facts]
    max_people = max(counts, default=0)
    activities = _distinct([f.facts.activity for f in frames if f.facts and f.facts.has_person])
    places = _distinct([f.facts.setting for f in frames if f.facts])
    lines: list[str] = []
    if with_people:
        lines.append(
            f"People appear in {len(with_people)} of {len(frames)} frames "
            f"({_list(with_people)}), at most {max_people} at once."
        )
    elif frames and not failed:
        lines.append(f"No person is visible in any of the {len(frames)} frames.")
    if without and with_people:
        lines.append(f"No person in frames {_list(without)}.")
    if activities:
        lines.append("What happens: " + "; ".join(activities[:5]) + ".")
    if places:
        lines.append("Where: " + "; ".join(places[:5]) + ".")
    if failed:
        lines.append(f"Frames {_list(failed)} could not be analysed.")
    return Summary(
        frames_with_people=with_people,
        frames_without_people=without,
        frames_failed=failed,
        max_people=max_people,
        activities=activities,
        settings=places,
        text=" ".join(lines),
    )


def _list(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)
