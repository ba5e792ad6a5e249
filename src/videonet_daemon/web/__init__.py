"""The browser client: one page at `/` and its static files, served with a strict CSP.

The page is plain HTML, CSS and JavaScript modules (no build step) and talks to the daemon only
through the documented REST and Socket.IO API, authenticated by the login cookie.

``static/socket.io.min.js`` is the unchanged browser build of the npm package socket.io-client
(4.8.4, MIT, licence in ``static/socket.io.LICENSE``). To update it: ``npm install
socket.io-client`` in an empty directory, then copy ``dist/socket.io.min.js`` and ``LICENSE``.
"""

from __future__ import annotations
