"""Headers from reverse proxies: X-Forwarded-For is read from the right, hop by trusted hop.

Before, the leftmost X-Forwarded-For entry was the client's address under trust-proxy: behind
a proxy that appends (nginx's ``$proxy_add_x_forwarded_for``), a client wrote its own address
there and escaped the per-address login throttle with a new one each time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from videonet_protocol import protocol

from conftest import Daemon

pytestmark = pytest.mark.one_pass("the request layer's proxy headers: no database")


def login(daemon: Daemon, email: str, headers: dict[str, str]) -> tuple[int, Any]:
    body = json.dumps({"email": email, "password": "wrong-password"}).encode()
    req = urllib.request.Request(daemon.api(protocol.API_LOGIN), data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_spoofed_leftmost_address_does_not_escape_the_throttle(daemon_factory: Any) -> None:
    d = daemon_factory(VIDEONET_TRUST_PROXY="1", VIDEONET_LOGIN_FAILURES_MAX="3")
    # What one appending proxy forwards: the client's own header, then the address it saw.
    statuses = [
        login(d, f"nobody{i}@example.test", {"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.7"})[0]
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    # Another client behind the same proxy is a different address.
    assert login(d, "else@example.test", {"X-Forwarded-For": "203.0.113.8"})[0] == 401


def test_two_trusted_hops_take_the_second_from_the_right(daemon_factory: Any) -> None:
    d = daemon_factory(
        VIDEONET_TRUST_PROXY="1", VIDEONET_TRUSTED_PROXY_HOPS="2", VIDEONET_LOGIN_FAILURES_MAX="2"
    )
    statuses = [
        login(
            d,
            f"nobody{i}@example.test",
            # client-written, then what the outer proxy saw, then what the inner one saw
            {"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.9, 10.0.0.{i}"},
        )[0]
        for i in range(3)
    ]
    assert statuses == [401, 401, 429]
