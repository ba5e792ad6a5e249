"""Prometheus metrics (prometheus_client), served at /metrics.

Counters count on this daemon; gauges are read when scraped. With several daemons, scrape each.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connected = Gauge(
            "videonet_connected_clients", "Socket.IO connections on this daemon", registry=r
        )
        self.rooms = Gauge("videonet_rooms", "Rooms in the database", registry=r)
        self.messages = Counter(
            "videonet_chat_messages_total", "Chat messages stored and sent", registry=r
        )
        self.transfers = Counter(
            "videonet_transfers_total", "Transfer offers by outcome", ["outcome"], registry=r
        )
        self.bytes_uploaded = Counter(
            "videonet_transfer_bytes_uploaded_total", "File bytes received from senders", registry=r
        )
        self.bytes_served = Counter(
            "videonet_transfer_bytes_served_total", "File bytes sent to receivers", registry=r
        )
        self.errors = Counter(
            "videonet_errors_total", "Error responses by code", ["code"], registry=r
        )
        self.socket_errors = Counter(
            "videonet_socket_errors_total", "Refused Socket.IO events by code", ["code"], registry=r
        )

    def render(self) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_loopback(remote: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in net for net in _LOOPBACK)
