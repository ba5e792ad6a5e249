"""The data the analysis produces: plain dataclasses that round-trip through JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class VideoInfo:
    """What we know about a clip. ``frame_count`` is verified by reading, not taken on trust."""

    path: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    fps: float
    reported_frame_count: int
    frame_count: int
    duration_s: float

    @property
    def frame_count_corrected(self) -> bool:
        return self.reported_frame_count != self.frame_count


@dataclass(frozen=True)
class FrameFacts:
    """The structured answer about one frame (see ``schema.FRAME_SCHEMA``)."""

    has_person: bool
    people_count: int
    activity: str
    setting: str
    description: str


@dataclass
class Usage:
    """Token counts summed from the ``usage`` field of every response (retries included)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    requests: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.requests += other.requests


@dataclass
class FrameResult:
    """One sampled frame: where it is, what was sent, and what came back (or why nothing did)."""

    index: int
    frame_number: int
    timestamp_s: float
    sent_width: int
    sent_height: int
    jpeg_bytes: int
    facts: FrameFacts | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class Summary:
    """What the whole clip shows: which frames have people, how many, what happens, where."""

    frames_with_people: list[int]
    frames_without_people: list[int]
    frames_failed: list[int]
    max_people: int
    activities: list[str]
    settings: list[str]
    text: str


@dataclass
class AnalysisResult:
    """Everything ``videonet analyze`` found; what ``--json`` prints and what the cache keeps."""

    video: VideoInfo
    options: dict[str, Any]
    backend: str
    model: str
    frames: list[FrameResult]
    summary: Summary
    usage: Usage
    cost_usd: float | None
    cached: bool = False
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisResult:
        frames = []
        for f in data["frames"]:
            facts = FrameFacts(**f["facts"]) if f.get("facts") else None
            frames.append(
                FrameResult(
                    **{k: v for k, v in f.items() if k not in ("facts", "usage")},
                    facts=facts,
                    usage=Usage(**f["usage"]),
                )
            )
        return cls(
            video=VideoInfo(**data["video"]),
            options=dict(data["options"]),
            backend=str(data["backend"]),
            model=str(data["model"]),
            frames=frames,
            summary=Summary(**data["summary"]),
            usage=Usage(**data["usage"]),
            cost_usd=data.get("cost_usd"),
            cached=bool(data.get("cached", False)),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
            notes=list(data.get("notes", [])),
        )
