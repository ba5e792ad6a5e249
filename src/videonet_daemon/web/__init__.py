"""The browser client: one page at `/` and its static files, served with a strict CSP.

The page is plain HTML, CSS and JavaScript modules (no build step) and talks to the daemon only
through the documented REST and Socket.IO API, authenticated by the login cookie.
"""

from __future__ import annotations

from videonet_daemon.web.routes import install

__all__ = ["install"]
