"""Shared fixtures: synthetic speech for every test, real RAVDESS speech for the few marked ``real_speech``; what a
test needs beyond the project (an optional package, a browser) through :func:`require` and :func:`require_program`."""

import importlib
import os
import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
REAL_SPEECH_FIXTURES = {"ravdess16k", "ravdess48k"}
REAL_SPEECH_HOWTO = (
    "real RAVDESS speech not found at {path}; to run the tests marked real_speech, "
    "put it there as docs/testing.md says (Zenodo record 1188976)"
)
INSTALL = "uv sync --locked --all-extras --group test"


def in_ci() -> bool:
    """Whether the suite runs in CI (``CI=true``, as .ci/run and CI services set it): there nothing may be skipped
    for want of something installable."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing(message: str):
    """Fail under CI, skip elsewhere (also at a module's top level, before its tests are collected)."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing requirement fails the suite)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(module: str):
    """Import ``module``, an optional package a test needs (an extra or the test group of pyproject.toml); where it
    is missing the test skips, naming the install command, except under CI, where it fails."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        _missing(f"{module} cannot be imported ({error}); install the extras and the test group: {INSTALL}")


def require_program(program: str, install: str) -> str:
    """The path of ``program`` on PATH; where it is missing the test skips, saying to run ``install``, except
    under CI, where it fails."""
    path = shutil.which(program)
    if path is None:
        _missing(f"{program} not found on PATH; install it: {install}")
    return path


def assert_one_line(message: str, *named: str) -> None:
    """A one-line error message (an exception's text, or a command's stderr) naming each of ``named``: the file or
    key it is about and the fix. Those are its promise; the words around them may change."""
    lines = message.rstrip("\n").splitlines()
    assert len(lines) == 1, message
    missing = [part for part in named if part not in lines[0]]
    assert not missing, f"{message!r} does not name {missing}"


def shared_data(name: str) -> Path:
    """A folder of ../shared/data (CI has it there too); skip where it is absent, saying how to get it."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(REAL_SPEECH_HOWTO.format(path=path))
    return path


def pytest_collection_modifyitems(config, items):
    """A test that uses real speech must say so with the one marker, so `-m "not real_speech"` is exact."""
    for item in items:
        uses = REAL_SPEECH_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses and item.get_closest_marker("real_speech") is None:
            raise pytest.UsageError(f"{item.nodeid} uses {', '.join(sorted(uses))} but is not marked real_speech")


@pytest.fixture(scope="session")
def speech16k(tmp_path_factory) -> Path:
    """Synthetic speech for tests that need audio, not real speech: ser.corpus.demo's corpus of six speakers at 16 kHz.

    Same layout and names as RAVDESS (``Actor_01/03-01-01-01-01-01-01.wav``, 60 files a speaker).
    """
    from ser.corpus.demo import generate_demo_corpus

    root = tmp_path_factory.mktemp("speech16k")
    generate_demo_corpus(root, sample_rate=16000, n_speakers=6)
    return root


@pytest.fixture(scope="session")
def ravdess16k() -> Path:
    """The 720 real 16 kHz RAVDESS files (actors 01-12); for tests marked real_speech."""
    return shared_data("ravdess16k")


@pytest.fixture(scope="session")
def ravdess48k() -> Path:
    """Five RAVDESS files as published: 48 kHz, three of them stereo; for tests marked real_speech."""
    return shared_data("ravdess48k-samples")
