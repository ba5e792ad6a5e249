"""Video analysis and the chat about it (``videonet analyze`` / ``videonet ask``).

The folder reads like the pipeline::

    settings      every knob: a default, an environment variable, help text
    video         open a clip, read and verify its metadata, read frames by index
    sampling      which frames: uniform (the seed's way) or one per detected shot
    imaging       downscale to what the model sees, JPEG-encode, data URLs
    schema        the per-frame JSON schema and its validation
    model         the OpenAI-compatible client: per-frame calls, retries, error mapping
    offline       the local face detector (CenterFace ONNX, run by cv2.dnn)
    summary       per-frame facts -> what the whole clip shows
    pricing       token totals -> estimated cost, with a user-overridable price table
    store         SQLite in the user data dir: cached analyses and conversations
    conversation  the chat about a clip: system message + trimmed history, streamed answers
    pipeline      the async core the commands call

Modules here may import cv2, numpy and openai at the top: only the commands import them, and
only inside the command functions, so ``videonet --version`` stays light.
"""

import os as _os

# FFmpeg inside OpenCV prints its complaints ("moov atom not found") straight to stderr, which
# would turn our one-line errors into several. Quiet it before any submodule imports cv2.
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
