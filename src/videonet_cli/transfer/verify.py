"""`verify`: are two files the same? Locally (size + SHA-256) or on the daemon (the seed's API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from videonet_cli.client import ApiClient, decode_response
from videonet_cli.transfer.files import check_sendable, sha256_file
from videonet_daemon import protocol


def compare_local(a: Path, b: Path) -> dict[str, Any]:
    check_sendable(a)
    check_sendable(b)
    size_a, sha_a = sha256_file(a)
    size_b, sha_b = sha256_file(b)
    return {
        "match": size_a == size_b and sha_a == sha_b,
        "where": "local",
        "original": {"path": str(a), "size": size_a, "sha256": sha_a},
        "received": {"path": str(b), "size": size_b, "sha256": sha_b},
    }


async def compare_on_daemon(api: ApiClient, a: Path, b: Path) -> dict[str, Any]:
    """Both files are streamed to POST /api/video/verify; the daemon hashes them as they arrive."""
    check_sendable(a)
    check_sendable(b)
    with a.open("rb") as fa, b.open("rb") as fb:
        form = aiohttp.FormData()
        form.add_field("original_file", fa, filename=a.name)
        form.add_field("received_file", fb, filename=b.name)
        try:
            async with api.session.post(protocol.API_VERIFY, data=form) as resp:
                result: dict[str, Any] = decode_response(resp.status, await resp.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise api.unreachable(exc) from exc
    result["original"]["path"] = str(a)
    result["received"]["path"] = str(b)
    result["where"] = api.server
    return result
