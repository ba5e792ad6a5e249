"""The model endpoint: an ``AsyncOpenAI`` client, the frame requests, and error translation.

Retries on 429 and 5xx (with exponential backoff and ``Retry-After``) are the SDK's own, set by
``VIDEONET_MODEL_RETRIES``; a malformed answer gets one more request of our own. Errors that end
the run become the CLI's errors: a refused key is an AuthError (exit 3), an unknown model a
NotFoundError (4), no connection or no answer in time an UnreachableError (5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai import AsyncOpenAI

from videonet_cli.analysis import schema, settings
from videonet_cli.analysis.imaging import Detail, EncodedFrame
from videonet_cli.analysis.results import FrameFacts, Usage
from videonet_cli.analysis.settings import ModelConfig
from videonet_cli.errors import AuthError, CliError, NotFoundError, UnreachableError
from videonet_cli.i18n import _

MALFORMED_RETRIES = 1

FRAME_PROMPT = (
    "You describe frames of a video for someone who cannot see them. Answer with JSON only, "
    "following the schema: whether people are visible, how many, what they are doing, where the "
    "scene is, and a short description. Count only people you can actually see."
)


def make_client(endpoint: settings.Endpoint, config: ModelConfig) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )


def translate_error(exc: openai.OpenAIError, config: ModelConfig) -> CliError:
    """One readable line for what went wrong talking to the model endpoint."""
    if isinstance(exc, openai.APITimeoutError):
        return UnreachableError(
            _("the model endpoint {where} did not answer within {seconds} s").format(
                where=config.where, seconds=f"{config.timeout_s:g}"
            )
        )
    if isinstance(exc, openai.APIConnectionError):
        return UnreachableError(
            _("cannot reach the model endpoint {where}").format(where=config.where)
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return AuthError(
            _("the model endpoint refused the API key ({status}): check OPENAI_API_KEY").format(
                status=exc.status_code
            )
        )
    if isinstance(exc, openai.NotFoundError):
        return NotFoundError(
            _("model {model} not found at {where}").format(
                model=repr(config.model), where=config.where
            )
        )
    if isinstance(exc, openai.RateLimitError):
        return CliError(
            _("rate limited by the model endpoint (429) after {n} retries").format(
                n=config.max_retries
            )
        )
    if isinstance(exc, openai.APIStatusError):
        detail = _short(exc.message)
        if exc.status_code >= 500:
            return CliError(
                _("the model endpoint failed ({status}) after {n} retries: {detail}").format(
                    status=exc.status_code, n=config.max_retries, detail=detail
                )
            )
        return CliError(
            _("the model endpoint rejected the request ({status}): {detail}").format(
                status=exc.status_code, detail=detail
            )
        )
    return CliError(_("model request failed: {detail}").format(detail=_short(str(exc))))


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def usage_of(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage(requests=1)
    return Usage(
        prompt_tokens=int(usage.prompt_tokens or 0),
        completion_tokens=int(usage.completion_tokens or 0),
        total_tokens=int(usage.total_tokens or 0),
        requests=1,
    )


def _image_part(frame: EncodedFrame, detail: Detail) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": frame.data_url(), "detail": detail.value}}


@dataclass
class Answer:
    facts: list[FrameFacts] | None
    error: str | None
    usage: Usage


async def describe_frame(
    client: AsyncOpenAI, config: ModelConfig, frame: EncodedFrame, where: str
) -> Answer:
    """Ask for the facts of one frame; ``where`` says e.g. "frame 3 of 10 at 12.5 s"."""
    messages: list[Any] = [
        {"role": "system", "content": FRAME_PROMPT},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"This is {where}."},
                _image_part(frame, config.detail),
            ],
        },
    ]
    return await _ask(client, config, messages, expected=None)


async def describe_frames(
    client: AsyncOpenAI, config: ModelConfig, frames: Sequence[EncodedFrame], wheres: Sequence[str]
) -> Answer:
    """All frames in one multi-image request (the ``--request single`` mode)."""
    content: list[Any] = [
        {
            "type": "text",
            "text": f"These are {len(frames)} frames of one video, in order. Answer with one "
            'entry per frame in "frames", in the same order.',
        }
    ]
    for frame, where in zip(frames, wheres, strict=True):
        content.append({"type": "text", "text": where})
        content.append(_image_part(frame, config.detail))
    messages: list[Any] = [
        {"role": "system", "content": FRAME_PROMPT},
        {"role": "user", "content": content},
    ]
    return await _ask(client, config, messages, expected=len(frames))


async def _ask(
    client: AsyncOpenAI, config: ModelConfig, messages: list[Any], expected: int | None
) -> Answer:
    total = Usage()
    problem = "no answer"
    max_tokens = config.max_tokens * (expected or 1)
    for _attempt in range(1 + MALFORMED_RETRIES):
        try:
            response = await client.chat.completions.create(
                model=config.model,
                messages=messages,
                max_tokens=max_tokens,
                response_format=cast(Any, schema.response_format(batch=expected is not None)),
            )
        except openai.OpenAIError as exc:
            raise translate_error(exc, config) from exc
        total.add(usage_of(response))
        text = response.choices[0].message.content if response.choices else None
        try:
            if expected is None:
                return Answer([schema.parse_answer(text)], None, total)
            return Answer(schema.parse_batch(text, expected), None, total)
        except schema.MalformedAnswer as exc:
            problem = str(exc)
    return Answer(None, f"malformed answer (after {1 + MALFORMED_RETRIES} tries): {problem}", total)
