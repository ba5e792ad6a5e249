"""VideoNet daemon: accounts, invites, rooms, realtime chat, the file relay and call signaling."""

__version__ = "0.1.0"
