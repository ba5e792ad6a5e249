"""`verify`: are two files the same? Locally (size + SHA-256) or on the daemon (the seed's API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videonet_cli.api import Api
from videonet_cli.transfer.files import check_sendable, sha256_file


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


async def compare_on_daemon(api: Api, a: Path, b: Path) -> dict[str, Any]:
    """Both files are streamed to the daemon's verify endpoint, which hashes them as they arrive."""
    check_sendable(a)
    check_sendable(b)
    result = await api.transfers.verify(a, b)
    result["original"]["path"] = str(a)
    result["received"]["path"] = str(b)
    result["where"] = api.server
    return result
