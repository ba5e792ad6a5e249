"""Fixtures for the analysis tests: the fake OpenAI server, clean environments, test clips.

This folder is a package (``tests/analysis/__init__.py``) so that its modules never shadow
``tests/conftest.py``; helpers live in ``helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_openai import FakeOpenAI, FakeServerThread
from .helpers import SCENE_COLORS, clean_env, solid, write_clip


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeServerThread(FakeOpenAI())
    yield server.start()
    server.stop()


@pytest.fixture
def online_env(fake: FakeOpenAI, tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY=fake.api_key)


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip_720p(clip_dir: Path) -> Path:
    """4 s of 1280x720 at 10 fps: four scenes of ten frames."""
    scenes = [(solid(c, i), 10) for i, c in enumerate(SCENE_COLORS[:4])]
    return write_clip(clip_dir / "scenes-720p.mp4", scenes, (1280, 720))


@pytest.fixture(scope="session")
def clip_1080p(clip_dir: Path) -> Path:
    scenes = [(solid(c, i), 5) for i, c in enumerate(SCENE_COLORS[:2])]
    return write_clip(clip_dir / "scenes-1080p.mp4", scenes, (1920, 1080))
