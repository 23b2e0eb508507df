"""Shared fixtures: the real RAVDESS subset beside the project, and small helpers."""
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """A folder of ../shared/data (CI has it there too); skip where it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def ravdess16k() -> Path:
    """The 720 real 16 kHz RAVDESS files."""
    return shared_data("ravdess16k")


@pytest.fixture(scope="session")
def ravdess48k() -> Path:
    """Five RAVDESS files as published: 48 kHz, three of them stereo."""
    return shared_data("ravdess48k-samples")
