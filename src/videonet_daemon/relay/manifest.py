"""Batch manifests: the list of files (relative paths and sizes) one batch transfer carries.

A manifest comes from a sender and is handed to every receiver, so the daemon refuses anything a
receiver could be tricked by: absolute paths, `..`, empty or `.` components, backslashes, control
characters (and lone surrogates, which cannot be stored), duplicates, a path that is both a file
and a directory, paths too long or too deep, too many files. Receivers check again on their own.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from videonet_daemon.errors import ValidationError
from videonet_protocol import protocol

_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def check_component(part: str, path: str) -> None:
    if part in ("", ".", ".."):
        raise ValidationError(f"manifest path {path!r}: empty, '.' or '..' component")
    if "\\" in part:
        raise ValidationError(f"manifest path {path!r}: backslash in a name")
    if any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in part):
        raise ValidationError(f"manifest path {path!r}: control character in a name")
    if len(part.encode("utf-8", "surrogatepass")) > protocol.TRANSFER_NAME_MAX_BYTES:
        raise ValidationError(f"manifest path {path!r}: a name is longer than 255 bytes")


def _check_path(path: Any, kind: protocol.BatchKind) -> str:
    if not isinstance(path, str) or not path:
        raise ValidationError("each manifest path must be a non-empty string")
    if len(path.encode("utf-8", "surrogatepass")) > protocol.TRANSFER_PATH_MAX_BYTES:
        raise ValidationError(
            f"manifest paths must be at most {protocol.TRANSFER_PATH_MAX_BYTES} bytes"
        )
    if path.startswith("/"):
        raise ValidationError(f"manifest path {path!r} is absolute")
    parts = path.split("/")
    if len(parts) > protocol.TRANSFER_PATH_MAX_DEPTH:
        raise ValidationError(
            f"manifest paths must have at most {protocol.TRANSFER_PATH_MAX_DEPTH} components"
        )
    if kind == protocol.BatchKind.FILES and len(parts) > 1:
        raise ValidationError(f"manifest path {path!r}: loose files are plain names")
    for part in parts:
        check_component(part, path)
    return path


def check_batch(batch: Any, size: int) -> tuple[protocol.BatchKind, list[protocol.ManifestEntry]]:
    """The batch's kind and its files, or ValidationError naming the first problem."""
    if not isinstance(batch, dict):
        raise ValidationError("batch must be an object with kind and files")
    try:
        kind = protocol.BatchKind(str(batch.get("kind")))
    except ValueError as exc:
        raise ValidationError("batch.kind must be 'files' or 'directory'") from exc
    files = batch.get("files")
    if not isinstance(files, list) or not files:
        raise ValidationError("batch.files must be a non-empty list")
    if len(files) > protocol.TRANSFER_BATCH_MAX_FILES:
        raise ValidationError(
            f"a batch holds at most {protocol.TRANSFER_BATCH_MAX_FILES} files, not {len(files)}"
        )
    entries: list[protocol.ManifestEntry] = []
    seen: set[str] = set()
    total = 0
    for item in files:
        if not isinstance(item, dict):
            raise ValidationError("each manifest entry must be an object with path and size")
        path = _check_path(item.get("path"), kind)
        file_size = item.get("size")
        if isinstance(file_size, bool) or not isinstance(file_size, int) or file_size < 0:
            raise ValidationError(f"manifest path {path!r}: size must be a non-negative integer")
        if path in seen:
            raise ValidationError(f"manifest path {path!r} appears twice")
        seen.add(path)
        total += file_size
        entries.append({"path": path, "size": file_size})
    # A path that is also another's directory ("a" and "a/b") cannot be written.
    for path in seen:
        head, _, _ = path.rpartition("/")
        while head:
            if head in seen:
                raise ValidationError(f"manifest path {head!r} is both a file and a directory")
            head, _, _ = head.rpartition("/")
    if total != size:
        raise ValidationError(f"size must be the sum of the files' sizes ({total})")
    return kind, entries


def check_files_sha256(value: Any, count: int) -> list[str]:
    if not isinstance(value, list) or len(value) != count:
        raise ValidationError(f"files_sha256 must list one SHA-256 per file ({count})")
    for digest in value:
        if (
            not isinstance(digest, str)
            or len(digest) != protocol.SHA256_HEX_CHARS
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValidationError("files_sha256 must hold 64 lowercase hex digits each")
    return list(value)


def encode(entries: list[protocol.ManifestEntry]) -> str:
    """The stored form; equal manifests encode equally (a resumed offer is matched on it)."""
    return json.dumps(entries, separators=(",", ":"), ensure_ascii=False)
