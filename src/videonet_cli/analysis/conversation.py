"""One conversation about one analysed clip: system message, trimmed history, streamed answers.

Every request carries the analysis as the system message plus the conversation so far. When that
would not fit ``VIDEONET_CHAT_CONTEXT_TOKENS`` (minus room for the answer), the oldest turns are
dropped first; the system message and the new question always stay. Turns are stored in SQLite
only once the answer is complete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai import AsyncOpenAI

from videonet_cli import i18n
from videonet_cli.analysis import settings
from videonet_cli.analysis.model import make_client, translate_error, usage_of
from videonet_cli.analysis.results import AnalysisResult, Usage
from videonet_cli.analysis.settings import ModelConfig
from videonet_cli.analysis.store import Message, Store

# A rough, tokenizer-free estimate (about 4 characters per token for English and JSON; a Korean
# or Japanese character is about one token or more, so every non-ASCII character counts as one)
# plus a few tokens of per-message overhead; good enough to stay under a budget.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4

SYSTEM_PROMPT = (
    "You answer questions about a video using only the analysis below, made from sampled "
    "frames. If the analysis does not say, answer that it does not say; do not guess. Refer to "
    "frames by their number and time."
)
# Said to the model after SYSTEM_PROMPT when the CLI speaks another language than English, so
# the answers come in the user's language (the analysis itself stays English).
ANSWER_IN = {"ko": "Answer in Korean.", "ja": "Answer in Japanese."}


def estimate_tokens(text: str) -> int:
    ascii_chars = len(text.encode("ascii", "ignore"))
    return ascii_chars // CHARS_PER_TOKEN + (len(text) - ascii_chars) + MESSAGE_OVERHEAD_TOKENS


def system_message(result: AnalysisResult, language: str = "en") -> str:
    """The analysis as text: the video's facts, the summary and every frame; in ``language``'s
    answers if not English."""
    v = result.video
    prompt = f"{SYSTEM_PROMPT} {ANSWER_IN[language]}" if language in ANSWER_IN else SYSTEM_PROMPT
    lines = [
        prompt,
        "",
        f"Video: {v.path} ({v.width}x{v.height}, {v.duration_s:.1f} s, {v.fps:g} fps, "
        f"{v.frame_count} frames)",
        f"Analysed by: {result.model}",
        f"Summary: {result.summary.text}",
        "Frames:",
    ]
    for f in result.frames:
        head = f"- frame {f.index + 1} at {f.timestamp_s:.1f} s"
        if f.facts is None:
            lines.append(f"{head}: not analysed ({f.error})")
        else:
            x = f.facts
            lines.append(
                f"{head}: people={x.people_count}; activity: {x.activity}; setting: {x.setting}; "
                f"{x.description}"
            )
    return "\n".join(lines)


def fit_history(
    system: str, history: list[Message], question: str, budget: int
) -> tuple[list[dict[str, str]], int]:
    """The messages to send, and how many old messages were left out to fit ``budget``."""
    fixed = estimate_tokens(system) + estimate_tokens(question)
    kept: list[Message] = []
    used = fixed
    # Walk back from the newest turn; stop at the first that does not fit so the kept history
    # stays contiguous. Turns are question + answer pairs, dropped together.
    pairs = [history[i : i + 2] for i in range(0, len(history), 2)]
    for pair in reversed(pairs):
        cost = sum(estimate_tokens(m.content) for m in pair)
        if used + cost > budget:
            break
        kept = pair + kept
        used += cost
    messages = [{"role": "system", "content": system}]
    messages += [{"role": m.role, "content": m.content} for m in kept]
    messages.append({"role": "user", "content": question})
    return messages, len(history) - len(kept)


def open_conversation(
    endpoint: settings.Endpoint, config: ModelConfig, result: AnalysisResult, store: Store
) -> Conversation:
    """A conversation about ``result`` with its own model client (close it when done)."""
    chat_tokens = settings.integer("chat_max_tokens", 16, 100_000)
    chat_config = dataclasses.replace(config, max_tokens=chat_tokens)
    return Conversation(
        client=make_client(endpoint, chat_config),
        config=chat_config,
        store=store,
        result=result,
        context_budget=settings.integer("context_budget", 512, 10_000_000),
    )


@dataclass
class Conversation:
    """A conversation about ``result``, persisted in ``store`` under the video's SHA-256."""

    client: AsyncOpenAI
    config: ModelConfig
    store: Store
    result: AnalysisResult
    context_budget: int
    conversation_id: int | None = None
    usage: Usage = field(default_factory=Usage)
    last_dropped: int = 0

    @property
    def sha256(self) -> str:
        return self.result.video.sha256

    def resume(self) -> int:
        """Continue the newest stored conversation of this video; returns its message count."""
        self.conversation_id = self.store.latest_conversation(self.sha256)
        return len(self.history())

    def reset(self) -> None:
        """Start a new conversation (the old one stays on disk)."""
        self.conversation_id = None

    async def close(self) -> None:
        await self.client.close()

    def history(self) -> list[Message]:
        if self.conversation_id is None:
            return []
        return self.store.messages(self.conversation_id)

    async def ask(self, question: str) -> AsyncIterator[str]:
        """Stream the answer to ``question``; the turn is stored once the answer is complete."""
        budget = max(256, self.context_budget - self.config.max_tokens)
        messages, self.last_dropped = fit_history(
            system_message(self.result, i18n.current()), self.history(), question, budget
        )
        parts: list[str] = []
        try:
            stream: Any = await self.client.chat.completions.create(
                model=self.config.model,
                messages=cast(Any, messages),
                max_tokens=self.config.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if chunk.usage is not None:
                    self.usage.add(usage_of(chunk))
                if chunk.choices and chunk.choices[0].delta.content:
                    text = chunk.choices[0].delta.content
                    parts.append(text)
                    yield text
        except openai.OpenAIError as exc:
            raise translate_error(exc, self.config) from exc
        if self.conversation_id is None:
            self.conversation_id = self.store.new_conversation(self.sha256)
        self.store.add_turn(self.conversation_id, question, "".join(parts))
