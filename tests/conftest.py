"""Shared fixtures: the real RAVDESS subset beside the project, and small helpers."""
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def ravdess16k() -> Path:
    """The 720 real 16 kHz RAVDESS files in ../shared (CI has them there too)."""
    path = SHARED_DATA / "ravdess16k"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def ravdess48k() -> Path:
    """Five RAVDESS files as published: 48 kHz, three of them stereo."""
    path = SHARED_DATA / "ravdess48k-samples"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path
