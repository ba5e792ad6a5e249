"""The typed client for the daemon: `Api` (HTTP endpoints) and `SocketClient` (Socket.IO).

No typer here, and nothing imports it at start-up: the connections (`wire`: HTTP/1.1 with h11;
`sio`: Socket.IO over wsproto) load only when a command talks to the daemon, so
``videonet --version`` stays fast.
"""

from videonet_cli.api.client import Api
from videonet_cli.api.socket import SocketClient

__all__ = ["Api", "SocketClient"]
