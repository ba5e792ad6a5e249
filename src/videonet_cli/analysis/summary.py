"""Turn per-frame facts into what the clip shows: who, how many, what happens, where."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from videonet_cli.analysis.results import FrameResult, Summary

UNKNOWN = "unknown (offline)"


def _distinct(values: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        key = value.strip()
        if key and key != UNKNOWN and key.lower() not in {k.lower() for k in seen}:
            seen[key] = None
    return list(seen)


def _english(message: str) -> str:
    return message


def _english_n(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def summarise(frames: Sequence[FrameResult]) -> Summary:
    """A summary over frames (numbered from 1 as the user sees them)."""
    with_people = [f.index + 1 for f in frames if f.facts and f.facts.has_person]
    without = [f.index + 1 for f in frames if f.facts and not f.facts.has_person]
    failed = [f.index + 1 for f in frames if f.facts is None]
    counts = [f.facts.people_count for f in frames if f.facts]
    max_people = max(counts, default=0)
    activities = _distinct([f.facts.activity for f in frames if f.facts and f.facts.has_person])
    places = _distinct([f.facts.setting for f in frames if f.facts])
    summary = Summary(
        frames_with_people=with_people,
        frames_without_people=without,
        frames_failed=failed,
        max_people=max_people,
        activities=activities,
        settings=places,
        text="",
    )
    # English in the result (cached, --json, the model's system message); the screen says it in
    # the user's language (`summary_text` with the CLI's catalogue).
    return dataclasses.replace(summary, text=summary_text(summary, len(frames)))


def summary_text(
    summary: Summary,
    total: int,
    _: Callable[[str], str] = _english,
    ngettext: Callable[[str, str, int], str] = _english_n,
) -> str:
    """The summary as sentences; ``_`` and ``ngettext`` choose the language (English if not
    given)."""
    with_people, without, failed = (
        summary.frames_with_people,
        summary.frames_without_people,
        summary.frames_failed,
    )
    lines: list[str] = []
    if with_people:
        lines.append(
            ngettext(
                "People appear in {n} of {total} frame ({frames}), at most {most} at once.",
                "People appear in {n} of {total} frames ({frames}), at most {most} at once.",
                total,
            ).format(
                n=len(with_people), total=total, frames=_list(with_people), most=summary.max_people
            )
        )
    elif total and not failed:
        lines.append(
            ngettext(
                "No person is visible in {n} frame.",
                "No person is visible in any of the {n} frames.",
                total,
            ).format(n=total)
        )
    if without and with_people:
        lines.append(
            ngettext(
                "No person in frame {frames}.", "No person in frames {frames}.", len(without)
            ).format(frames=_list(without))
        )
    if summary.activities:
        lines.append(_("What happens: {what}.").format(what="; ".join(summary.activities[:5])))
    if summary.settings:
        lines.append(_("Where: {where}.").format(where="; ".join(summary.settings[:5])))
    if failed:
        lines.append(
            ngettext(
                "Frame {frames} could not be analysed.",
                "Frames {frames} could not be analysed.",
                len(failed),
            ).format(frames=_list(failed))
        )
    return " ".join(lines)


def _list(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)
