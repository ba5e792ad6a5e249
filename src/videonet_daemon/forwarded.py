"""What the reverse proxies in front of the daemon say about a request (trust_proxy only).

Each proxy appends to ``X-Forwarded-For`` the address it was reached from, so only the last
``trusted_proxy_hops`` entries were written by proxies we trust; everything to their left came
with the request and is whatever the client wrote. The client's address is therefore the entry
the outermost trusted proxy added: ``hops`` from the right (the rightmost one the client could
not choose). ``X-Forwarded-Proto`` is read the same way.
"""

from __future__ import annotations


def hop_value(header: str | None, hops: int) -> str | None:
    """The entry of a comma-separated forwarding header that the outermost of `hops` trusted
    proxies wrote, or None when the header is missing or empty. A list shorter than `hops`
    (fewer proxies than configured on this path) gives its leftmost entry."""
    if not header:
        return None
    entries = [entry.strip() for entry in header.split(",")]
    entries = [entry for entry in entries if entry]
    if not entries:
        return None
    return entries[-hops] if len(entries) >= hops else entries[0]
