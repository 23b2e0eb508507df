"""Windows over speech, and their feature vectors pooled from one encoding of each stretch of speech.

A speech region is cut into *stretches* of equal length, at most 30 s each (Whisper's encoder has positions for no
more). Windows of ``window`` seconds start every ``hop`` seconds inside a stretch; the last one ends at the
stretch's end, so every moment of speech is covered, and a stretch shorter than a window is one window.

For a model whose features are the whisper family alone, each stretch is encoded once and each window's vector is
the family's statistics (mean, std, ...) over the encoder frames (20 ms each) that fall inside it: overlapping
windows share one encoding instead of each being encoded again. For any other model each window's samples go
through the model's feature extractor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ser.features.stats import STATS
from ser.timeline.speech import SAMPLE_RATE

MAX_STRETCH = 30.0  # seconds: Whisper's input
ENCODER_FRAME = 0.02  # seconds per encoder frame


@dataclass(frozen=True)
class Window:
    """A window's place in the recording, in seconds."""

    start: float
    end: float


def stretches(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Each region cut into equal pieces of at most :data:`MAX_STRETCH` seconds."""
    pieces = []
    for start, end in regions:
        count = max(1, math.ceil((end - start) / MAX_STRETCH - 1e-9))
        step = (end - start) / count
        pieces += [(start + k * step, start + (k + 1) * step) for k in range(count)]
    return pieces


def windows_in(start: float, end: float, window: float, hop: float) -> list[Window]:
    """Windows of ``window`` seconds every ``hop`` over ``[start, end]``, the last ending at ``end``."""
    if end - start <= window:
        return [Window(start, end)]
    count = math.floor((end - start - window) / hop + 1e-9) + 1
    found = [Window(start + k * hop, start + k * hop + window) for k in range(count)]
    if found[-1].end < end - 1e-9:
        found.append(Window(end - window, end))
    return found


class WindowFeatures:
    """The feature vectors of windows of one stretch, before normalisation, in the column order ``order`` gives
    (indices into ``extractor.names``; default: the extractor's own order)."""

    def __init__(self, extractor, order: np.ndarray | None = None):
        self.extractor = extractor
        self.order = np.arange(len(extractor.names)) if order is None else order
        params = extractor.params
        self.pooled = tuple(params.families) == ("whisper",)
        if self.pooled:
            from ser.features.whisper import encoder

            self.encoder = encoder(params.whisper)
            self.stats = [STATS[stat] for stat in params.whisper.stats]

    def __call__(self, samples: np.ndarray, start: float, windows: list[Window]) -> np.ndarray:
        """One row per window of the stretch whose 16 kHz ``samples`` begin at ``start`` seconds."""
        rate = self.extractor.sample_rate
        if not self.pooled:
            if rate != SAMPLE_RATE:  # the model's own rate, as its training files were decoded
                import soxr

                samples = soxr.resample(samples, SAMPLE_RATE, rate, quality="HQ").astype(np.float32)
            rows = [
                self.extractor(samples[round((w.start - start) * rate) : round((w.end - start) * rate)])
                for w in windows
            ]
            return np.vstack(rows)[:, self.order]
        layers = self.encoder.frames(samples)  # each (width, frames)
        count = layers[0].shape[1]
        rows = []
        for w in windows:
            first = min(count - 1, int(round((w.start - start) / ENCODER_FRAME)))
            last = max(first + 1, min(count, int(round((w.end - start) / ENCODER_FRAME))))
            rows.append(np.concatenate([stat(frames[:, first:last]) for frames in layers for stat in self.stats]))
        return np.vstack(rows)[:, self.order]
