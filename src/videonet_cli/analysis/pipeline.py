"""The async core of ``videonet analyze``: clip in, :class:`AnalysisResult` out. Never prints.

Blocking work (hashing, decoding, the offline detector) runs in a worker thread so that progress
callbacks and model requests keep flowing; model requests run concurrently under a semaphore.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from videonet_cli.analysis import offline, pricing, settings, video
from videonet_cli.analysis.imaging import Detail, EncodedFrame, encode
from videonet_cli.analysis.results import AnalysisResult, FrameResult, Usage, VideoInfo
from videonet_cli.analysis.sampling import Sampling, detect_shots, shot_indices, uniform_indices
from videonet_cli.analysis.store import Store
from videonet_cli.analysis.summary import summarise
from videonet_cli.errors import CliError, UsageError
from videonet_cli.i18n import _
from videonet_cli.reporting import Reporter, ignore

MAX_FRAMES = 500
# Threads decoding sparse frames at once (this is a 2-core target; more gains little).
DECODE_WORKERS = 2
# Bump when a change makes old cached results wrong (prompt, schema, sampling rule).
CACHE_VERSION = 1


def _progress(report: Reporter, stage: str, done: int, total: int) -> None:
    """The one event this core reports; the command turns it into a progress display."""
    report({"event": "progress", "stage": stage, "done": done, "total": total})


class RequestMode(StrEnum):
    PER_FRAME = "per-frame"
    SINGLE = "single"


@dataclass(frozen=True)
class AnalyzeRequest:
    path: Path
    frames: int
    sampling: Sampling
    model: str
    detail: Detail
    concurrency: int
    jpeg_quality: int
    max_tokens: int
    request_mode: RequestMode
    timeout_s: float
    max_retries: int
    offline: bool
    refresh: bool

    def model_config(self, endpoint: settings.Endpoint | None) -> settings.ModelConfig:
        return settings.ModelConfig(
            model=self.model,
            detail=self.detail,
            max_tokens=self.max_tokens,
            base_url=endpoint.base_url if endpoint else None,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )


def cache_key(req: AnalyzeRequest, backend: str) -> str:
    """What makes two analyses of the same bytes differ (not concurrency, not retries)."""
    params = {
        "v": CACHE_VERSION,
        "backend": backend,
        "model": req.model if backend == "model" else offline.MODEL_NAME,
        "frames": req.frames,
        "sampling": req.sampling.value,
        "detail": req.detail.value if backend == "model" else None,
        "jpeg_quality": req.jpeg_quality if backend == "model" else None,
        "request": req.request_mode.value if backend == "model" else None,
    }
    return json.dumps(params, sort_keys=True)


def _choose(req: AnalyzeRequest, info: VideoInfo) -> list[int]:
    if req.sampling is Sampling.SHOTS:
        shots = detect_shots(req.path, info.frame_count, info.fps)
        return shot_indices(shots, req.frames)
    return uniform_indices(info.frame_count, req.frames)


async def latest_or_analyze(
    req: AnalyzeRequest, endpoint: settings.Endpoint | None, report: Reporter = ignore
) -> AnalysisResult:
    """The newest stored analysis of these bytes, whatever its options; else a new one.

    ``ask`` uses this: a question about a clip analysed with ``--frames 30`` should be answered
    from that analysis, not trigger a new one with the default options.
    """
    video.check_path(req.path)
    sha = await asyncio.to_thread(video.sha256_file, req.path)
    with Store(settings.store_path()) as store:
        stored = store.latest_analysis(sha)
    # An offline analysis (faces only) is a poor context for a model: make a real one.
    if stored is None or req.refresh or (endpoint and stored.get("backend") == "offline"):
        return await analyze(req, endpoint, report)
    return _from_cache(stored, req.path)


def _from_cache(stored: dict[str, Any], path: Path) -> AnalysisResult:
    result = AnalysisResult.from_dict(stored)
    result.cached = True
    # Same bytes, maybe another name: report the path the user gave this time.
    result.video = VideoInfo(**{**result.video.__dict__, "path": str(path)})
    return result


async def analyze(
    req: AnalyzeRequest,
    endpoint: settings.Endpoint | None,
    report: Reporter = ignore,
) -> AnalysisResult:
    """Analyse ``req.path``; offline when ``req.offline`` or when there is no endpoint."""
    if not 1 <= req.frames <= MAX_FRAMES:
        raise UsageError(_("--frames must be between 1 and {most}").format(most=MAX_FRAMES))
    started = time.perf_counter()
    use_model = endpoint is not None and not req.offline
    backend = "model" if use_model else "offline"
    _progress(report, "hashing", 0, 1)
    video.check_path(req.path)
    sha = await asyncio.to_thread(video.sha256_file, req.path)
    key = cache_key(req, backend)
    with Store(settings.store_path()) as store:
        if not req.refresh and (cached := store.get_analysis(sha, key)) is not None:
            return _from_cache(cached, req.path)
        _progress(report, "reading video", 0, 1)
        info = await asyncio.to_thread(video.probe, req.path, sha)
        _progress(report, "choosing frames", 0, 1)
        indices = await asyncio.to_thread(_choose, req, info)
        frames: list[FrameResult] = []
        if use_model:
            assert endpoint is not None
            config = req.model_config(endpoint)
            frames = await _model_frames(req, endpoint, config, indices, report)
            model_name = req.model
        else:
            frames = await _offline_frames(req, indices, report)
            model_name = offline.MODEL_NAME
        if not frames:
            raise video.NotAVideoError(_("no frame could be decoded: {path}").format(path=req.path))
        usage = Usage()
        for f in frames:
            usage.add(f.usage)
        price = pricing.lookup(pricing.load_table(settings.price_file()), model_name)
        notes = []
        if info.frame_count_corrected:
            notes.append(
                f"the file claims {info.reported_frame_count} frames; "
                f"{info.frame_count} can be decoded"
            )
        if len(frames) < len(indices):
            notes.append(f"{len(indices) - len(frames)} sampled frame(s) could not be decoded")
        result = AnalysisResult(
            video=info,
            options=json.loads(key),
            backend=backend,
            model=model_name,
            frames=frames,
            summary=summarise(frames),
            usage=usage,
            cost_usd=pricing.estimate(usage, price) if use_model else 0.0,
            elapsed_s=round(time.perf_counter() - started, 3),
            notes=notes,
        )
        # A run with failed frames is not cached: the next run should try them again.
        if not result.summary.frames_failed:
            store.put_analysis(sha, key, result.to_dict())
    return result


T = TypeVar("T")


def _frame_result(index: int, d: video.DecodedFrame, enc: EncodedFrame | None) -> FrameResult:
    height, width = d.image.shape[:2]
    return FrameResult(
        index=index,
        frame_number=d.frame_number,
        timestamp_s=round(d.timestamp_s, 3),
        sent_width=enc.width if enc else width,
        sent_height=enc.height if enc else height,
        jpeg_bytes=len(enc.jpeg) if enc else 0,
    )


def _prepared(
    path: Path, indices: list[int], prepare: Callable[[int, video.DecodedFrame], T]
) -> AsyncIterator[T]:
    """Start decoding and ``prepare``-ing frames in worker threads now; iterate to get each
    as soon as it is ready.

    Decoding starts at the call, not at the first iteration, so that whatever the caller does
    next (importing the openai SDK, opening a client) overlaps with it. Requests for the first
    frames are on their way while later frames are still being decoded. Sparse frames are split
    between ``DECODE_WORKERS`` threads, each with its own capture (OpenCV decodes without the
    GIL, so two cores decode two frames at once). ``prepare`` gets the frame's position in
    ``indices``; the full-size image is dropped once it has run.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    wanted = sorted(set(indices))
    sparse = len(wanted) >= 2 * DECODE_WORKERS and not video.is_dense(wanted)
    workers = DECODE_WORKERS if sparse else 1
    size = -(-len(wanted) // workers)
    chunks = [list(enumerate(wanted))[i : i + size] for i in range(0, len(wanted), size)]

    def work(chunk: list[tuple[int, int]]) -> None:
        position = {number: i for i, number in chunk}
        try:
            for d in video.iter_frames(path, [number for _, number in chunk]):
                item = prepare(position[d.frame_number], d)
                loop.call_soon_threadsafe(queue.put_nowait, ("item", item))
        except BaseException as exc:  # handed to the event loop, raised there
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, ("end", None))

    running = [loop.run_in_executor(None, work, chunk) for chunk in chunks]

    async def results() -> AsyncIterator[T]:
        ended = 0
        while ended < len(running):
            kind, value = await queue.get()
            if kind == "end":
                ended += 1
            elif kind == "error":
                raise value
            else:
                yield value
        await asyncio.gather(*running)

    return results()


def _in_order(frames: list[FrameResult]) -> list[FrameResult]:
    """Frames in timeline order, numbered 0..n-1 (a frame that failed to decode leaves no gap)."""
    ordered = sorted(frames, key=lambda f: f.frame_number)
    for i, frame in enumerate(ordered):
        frame.index = i
    return ordered


async def _offline_frames(
    req: AnalyzeRequest, indices: list[int], report: Reporter
) -> list[FrameResult]:
    def detect(i: int, d: video.DecodedFrame) -> FrameResult:
        frame = _frame_result(i, d, None)
        frame.facts = offline.describe(d.image)
        return frame

    frames: list[FrameResult] = []
    _progress(report, "detecting faces", 0, len(indices))
    async for frame in _prepared(req.path, indices, detect):
        frames.append(frame)
        _progress(report, "detecting faces", len(frames), len(indices))
    return _in_order(frames)


async def _model_frames(
    req: AnalyzeRequest,
    endpoint: settings.Endpoint,
    config: settings.ModelConfig,
    indices: list[int],
    report: Reporter,
) -> list[FrameResult]:
    total = len(indices)

    def prepare(i: int, d: video.DecodedFrame) -> tuple[FrameResult, EncodedFrame, str]:
        enc = encode(d.image, req.detail, req.jpeg_quality)
        frame = _frame_result(i, d, enc)
        return frame, enc, f"frame {i + 1} of {total} at {frame.timestamp_s:.1f} s"

    feed = _prepared(req.path, indices, prepare)
    # Imported here, once the frames are decoding: the openai SDK is the slowest import of the
    # command (the command also starts loading it in a thread at once).
    from videonet_cli.analysis import model as model_api

    frames: list[FrameResult] = []
    client = model_api.make_client(endpoint, config)
    _progress(report, "analysing frames", 0, total)
    async with client:
        if req.request_mode is RequestMode.SINGLE:
            items = [item async for item in feed]
            items.sort(key=lambda item: item[0].frame_number)
            frames = _in_order([f for f, _, _ in items])
            answer = await model_api.describe_frames(
                client, config, [e for _, e, _ in items], [w for _, _, w in items]
            )
            if frames:
                frames[0].usage = answer.usage
            for i, frame in enumerate(frames):
                frame.facts = answer.facts[i] if answer.facts else None
                frame.error = answer.error
            _progress(report, "analysing frames", total, total)
            return frames
        limit = asyncio.Semaphore(req.concurrency)
        done = 0

        async def one(frame: FrameResult, enc: EncodedFrame, where: str) -> None:
            nonlocal done
            async with limit:
                answer = await model_api.describe_frame(client, config, enc, where)
            frame.facts = answer.facts[0] if answer.facts else None
            frame.error = answer.error
            frame.usage = answer.usage
            done += 1
            _progress(report, "analysing frames", done, total)

        try:
            async with asyncio.TaskGroup() as group:
                async for frame, enc, where in feed:
                    frames.append(frame)
                    group.create_task(one(frame, enc, where))
        except* CliError as failures:
            # The first fatal error (bad key, unknown model, unreachable, unreadable video) ends
            # the run; the TaskGroup has already cancelled the other requests.
            raise failures.exceptions[0] from None
    return _in_order(frames)
