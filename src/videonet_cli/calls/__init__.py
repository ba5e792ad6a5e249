"""`videonet call`: a WebRTC participant with aiortc (media source, recorder, the peer mesh).

Imported only by the call command: aiortc and PyAV are heavy, and `videonet --version` must not
load them.
"""
