"""Whisper's encoder as a feature family: Whisper's log-mel front end in numpy, the encoder's layers from one pass
of an ONNX Runtime graph.

The front end is Whisper's own definition (16 kHz, 400-sample periodic Hann window,
hop 160, reflect-padded centred frames, the last frame dropped, 80 Slaney mel bands
of unit area, log10 with a 1e-10 floor, clipped at 8 below the peak, then
``(x + 4) / 4``), built on the project's filter bank (:mod:`ser.dsp.filters`) and
framing (:mod:`ser.dsp.frames`); the tests compare it with Hugging Face's
``WhisperFeatureExtractor``. The encoder is a graph built from Whisper's weights
(:mod:`ser.features.encoder`) that returns every layer ``features.whisper.layers`` names
from one pass; each layer gives one 512-number frame (for ``base``) per 20 ms, and the
frames that cover the audio, not the padding, are what the statistics summarise.

The weights come offline, checked by digest (:mod:`ser.features.weights`).

ONNX Runtime is imported only when the family is used, and each process runs its own
session with one thread, so a file's vector is the same in any worker.
"""

from __future__ import annotations

import os
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ser.dsp.filters import mel_filter_bank
from ser.dsp.frames import periodic_hann, power_spectrogram
from ser.features.encoder import graph, session
from ser.features.weights import encoder_layers, model_file, resolve_model

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
CHUNK_FRAMES = 3000  # Whisper's input: 30 s of log-mel frames; the encoder has positions for no more
CHUNK_SAMPLES = CHUNK_FRAMES * HOP_LENGTH
ENCODER_STRIDE = 2  # the encoder's second convolution halves the frame rate
LOG_FLOOR, LOG_RANGE = 1e-10, 8.0


def log_mel(samples: np.ndarray, *, padded: bool) -> np.ndarray:
    """Whisper's normalised log-mel spectrogram of 16 kHz samples: ``(80, frames)`` float32.

    ``padded`` appends zeros up to a whole number of 30 s chunks first, as Whisper does
    for its standard input (the padding then shares the peak the floor is taken from).
    """
    samples = np.asarray(samples, dtype=np.float32)
    if padded:
        samples = np.pad(samples, (0, -len(samples) % CHUNK_SAMPLES))
    power = power_spectrogram(samples, window=_window(), hop_length=HOP_LENGTH, pad_mode="reflect")[:, :-1]
    mel = _mel_bank() @ power
    log = np.log10(np.maximum(mel, LOG_FLOOR))
    log = np.maximum(log, log.max() - LOG_RANGE)
    return ((log + 4.0) / 4.0).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return periodic_hann(N_FFT)


@lru_cache(maxsize=1)
def _mel_bank() -> np.ndarray:
    return mel_filter_bank(SAMPLE_RATE, N_FFT, N_MELS)


def audio_frames(n_samples: int) -> int:
    """Encoder frames that cover ``n_samples`` of audio (one per two log-mel frames, rounded up)."""
    mel_frames = max(1, n_samples // HOP_LENGTH)
    return -(-mel_frames // ENCODER_STRIDE)


class WhisperEncoder:
    """The frames of the chosen encoder layers over one file's audio, from one pass of the encoder graph
    (:mod:`ser.features.encoder`) per chunk."""

    def __init__(self, folder: Path, *, compute_type: str, padded: bool, layers):
        self.folder = folder
        self.compute_type = compute_type
        self.padded = padded
        self.layers = encoder_layers(folder, layers)
        self._sessions: dict[int, object] = {}

    def _session(self):
        """This process's session, made on first use: a forked worker makes its own."""
        pid = os.getpid()
        if pid not in self._sessions:
            self._sessions[pid] = session(graph(self.folder, self.layers, self.compute_type))
        return self._sessions[pid]

    def encode(self, mel: np.ndarray) -> list[np.ndarray]:
        """Each chosen layer's frames, ``(frames, width)``, of one log-mel chunk of at most 30 s."""
        outputs = self._session().run(None, {"mel": np.ascontiguousarray(mel[np.newaxis])})
        return [output[0] for output in outputs]

    @cached_property
    def width(self) -> int:
        """Numbers per encoder frame (512 for base), read off the model file."""
        return model_file(self.folder).variables["encoder/conv1/bias"].shape[0]

    def frames(self, samples: np.ndarray) -> list[np.ndarray]:
        """``(width, frames)`` of each chosen layer, in :attr:`layers` order: the encoder frames that cover the
        audio, encoded in chunks of at most 30 s."""
        mel = log_mel(samples, padded=self.padded)
        chunks = [self.encode(mel[:, start : start + CHUNK_FRAMES]) for start in range(0, mel.shape[1], CHUNK_FRAMES)]
        covered = audio_frames(len(samples))
        # one chunk (any file of 30 s or less) is the runtime's own output: no copy
        return [(layer[0] if len(layer) == 1 else np.concatenate(layer))[:covered].T for layer in zip(*chunks)]


@lru_cache(maxsize=8)
def encoder(params) -> WhisperEncoder:
    """The encoder that ``features.whisper`` (a :class:`ser.config.WhisperParams`) describes, one per process."""
    folder, _ = resolve_model(params.model)
    return WhisperEncoder(folder, compute_type=params.compute_type, padded=params.padded, layers=params.layers)
