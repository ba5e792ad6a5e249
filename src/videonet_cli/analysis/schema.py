"""The structured answer we ask the model for, and the check every answer must pass.

An answer that is not JSON, misses a field, has a wrong type or contradicts itself (no person but
a head count) is malformed: the caller retries once and then reports the frame as failed. Nothing
is ever guessed from keywords in free text, as the seed did.
"""

from __future__ import annotations

import json
from typing import Any

from videonet_cli.analysis.results import FrameFacts

FIELDS: dict[str, dict[str, Any]] = {
    "has_person": {"type": "boolean", "description": "Is at least one person visible?"},
    "people_count": {"type": "integer", "description": "How many people are visible (0 if none)."},
    "activity": {"type": "string", "description": "What is happening, in a few words."},
    "setting": {"type": "string", "description": "Where it is (indoors, street, beach, ...)."},
    "description": {"type": "string", "description": "One or two sentences about the frame."},
}

FRAME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": FIELDS,
    "required": list(FIELDS),
    "additionalProperties": False,
}

BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"frames": {"type": "array", "items": FRAME_SCHEMA}},
    "required": ["frames"],
    "additionalProperties": False,
}


def response_format(batch: bool = False) -> dict[str, Any]:
    """The ``response_format`` argument: JSON schema, strict."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "video_frames" if batch else "frame_facts",
            "strict": True,
            "schema": BATCH_SCHEMA if batch else FRAME_SCHEMA,
        },
    }


class MalformedAnswer(ValueError):
    """The model's answer does not match the schema."""


_TYPES: dict[str, type | tuple[type, ...]] = {"boolean": bool, "integer": int, "string": str}


def parse_facts(obj: Any) -> FrameFacts:
    """Validate one decoded answer object and turn it into :class:`FrameFacts`."""
    if not isinstance(obj, dict):
        raise MalformedAnswer(f"expected a JSON object, got {type(obj).__name__}")
    missing = [name for name in FIELDS if name not in obj]
    if missing:
        raise MalformedAnswer(f"missing field(s): {', '.join(missing)}")
    extra = [name for name in obj if name not in FIELDS]
    if extra:
        raise MalformedAnswer(f"unexpected field(s): {', '.join(extra)}")
    for name, spec in FIELDS.items():
        value = obj[name]
        expected = _TYPES[spec["type"]]
        # bool is an int in Python; a JSON true is not a head count.
        if not isinstance(value, expected) or (
            spec["type"] == "integer" and isinstance(value, bool)
        ):
            raise MalformedAnswer(f"field {name!r} should be {spec['type']}, got {value!r}")
    if obj["people_count"] < 0:
        raise MalformedAnswer("people_count is negative")
    if obj["has_person"] != (obj["people_count"] > 0):
        raise MalformedAnswer(
            f"has_person={obj['has_person']} contradicts people_count={obj['people_count']}"
        )
    return FrameFacts(
        has_person=obj["has_person"],
        people_count=obj["people_count"],
        activity=obj["activity"].strip(),
        setting=obj["setting"].strip(),
        description=obj["description"].strip(),
    )


def parse_answer(text: str | None) -> FrameFacts:
    """Decode and validate the text content of one frame answer."""
    return parse_facts(_decode(text))


def parse_batch(text: str | None, expected: int) -> list[FrameFacts]:
    """Decode and validate a multi-image answer that must describe ``expected`` frames."""
    obj = _decode(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("frames"), list):
        raise MalformedAnswer('expected an object with a "frames" array')
    frames = obj["frames"]
    if len(frames) != expected:
        raise MalformedAnswer(f"expected {expected} frames, got {len(frames)}")
    return [parse_facts(item) for item in frames]


def _decode(text: str | None) -> Any:
    if not text:
        raise MalformedAnswer("empty answer")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedAnswer(f"not JSON: {exc}") from None
