"""The browser client: one page at `/` and its static files, served with a strict CSP.

The page is plain HTML, CSS and JavaScript modules (no build step) and talks to the daemon only
through the documented REST and Socket.IO API, authenticated by the login cookie.

``static/socket.io.min.js`` is the unchanged browser build of the npm package socket.io-client
(4.8.4, MIT, licence in ``static/socket.io.LICENSE``). To update it: ``npm install
socket.io-client`` in an empty directory, then copy ``dist/socket.io.min.js`` and ``LICENSE``.

``static/e2e-vendor.min.js`` is the page's transfer crypto's two libraries, bundled unchanged
into one ES module: @hpke/core 1.9.0 (RFC 9180 HPKE, with @hpke/common 1.10.1) and @noble/hashes
2.4.0 (a SHA-256 fed piece by piece), all MIT, licences in ``static/e2e-vendor.LICENSE``. To
update it, in an empty directory: ``npm install @hpke/core @noble/hashes esbuild``, an
``entry.js`` of ``export { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256, Aes256Gcm } from
"@hpke/core"; export { sha256 } from "@noble/hashes/sha2.js";``, then ``npx esbuild entry.js
--bundle --format=esm --minify --legal-comments=none``; keep the first comment line (names and
versions) and write the three LICENSE files into ``e2e-vendor.LICENSE``. ``static/e2e.js`` uses
it (tests/test_web_e2e.py checks both against the CLI's test vectors).
"""

from __future__ import annotations
