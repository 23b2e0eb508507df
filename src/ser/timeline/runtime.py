"""Emotion over time in one recording: speech regions, windows, one speaker's normalisation, calibrated
probabilities, smoothing, segments.

A file is read twice, block by block (:func:`ser.corpus.audio.decode_blocks`), so memory stays flat however long
it is: the first pass finds the speech (:mod:`ser.timeline.speech`) and checks the samples, the second collects
each stretch of speech (at most 30 s), encodes it once and keeps its windows' feature vectors
(:mod:`ser.timeline.windows`), on disk when they are many (:class:`WindowRows`). The windows of the recording are
then standardised together, as one speaker's recordings (shrunk toward the training speakers' average when they are
few, as ``ser predict`` does for a speaker with few recordings), given to the model in blocks, and their calibrated
probabilities smoothed into segments
(:mod:`ser.timeline.smoothing`). The model is the bundle's timeline model, trained on such windows of its
training clips (:mod:`ser.timeline.training`), when the bundle holds one; its clip model otherwise.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ser.corpus.audio import SILENCE_PEAK, AudioError, decode_blocks
from ser.errors import SerError
from ser.timeline.smoothing import Segment, segments
from ser.timeline.speech import SAMPLE_RATE, SpeechScorer, regions_of_scores
from ser.timeline.windows import WindowFeatures, stretches, windows_in

BLOCK_ROWS = 256  # windows given to the model at once
SPOOL_BYTES = 8 << 20  # windows' feature vectors beyond this size wait on disk (WindowRows)


@dataclass(frozen=True)
class Timeline:
    """A recording's duration and its segments of speech, in time order."""

    file: str
    duration: float
    segments: list[Segment] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True: this recording was labelled (a :class:`~ser.inference.inputs.Failure`'s ``ok`` is False)."""
        return True

    def as_dict(self, digits: int | None = None) -> dict:
        """``{"file", "duration", "segments": [...]}`` (:meth:`Segment.as_dict`)."""
        return {
            "file": self.file,
            "duration": round(self.duration, 3),
            "segments": [segment.as_dict(digits) for segment in self.segments],
        }


class SpoolError(SerError):
    """A long recording's windows could not be kept in a temporary file (no writable temporary folder, a full
    disk): that recording's failure, naming the fix."""


class WindowRows:
    """A recording's windows' feature vectors (float32), appended stretch by stretch and read back in blocks: held
    in memory up to :data:`SPOOL_BYTES`, beyond that in an unnamed temporary file (removed when closed), so that
    hours of windows take the memory of one block. A 2-hour recording's are about 90 MB."""

    def __init__(self, width: int):
        self.width, self.count = width, 0
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def append(self, rows: np.ndarray) -> None:
        try:
            self.file.write(np.ascontiguousarray(rows, np.float32).tobytes())
        except OSError as error:
            raise SpoolError(
                f"cannot keep its windows in a temporary file ({error.strerror or error}); "
                "set TMPDIR to a writable folder with room"
            ) from None
        self.count += len(rows)

    def blocks(self, size: int):
        """The rows in order, ``size`` at a time (fewer in the last block)."""
        self.file.seek(0)
        for _ in range(0, self.count, size):
            yield np.frombuffer(self.file.read(size * self.width * 4), np.float32).reshape(-1, self.width)


def _probabilities(predictor, rows: WindowRows) -> np.ndarray:
    """The calibrated probabilities of a recording's windows, standardised together as one speaker's (read in
    blocks, twice for the statistics and once for the model)."""
    if predictor.normalization == "speaker":
        from ser.modeling.normalize import STATISTICS_ROWS, streamed_speaker_statistics

        mean, std = streamed_speaker_statistics(lambda: rows.blocks(STATISTICS_ROWS), predictor.speaker_reference)
    else:
        mean, std = 0.0, 1.0
    return np.vstack([predictor.model.predict_proba((X - mean) / std) for X in rows.blocks(BLOCK_ROWS)])


def _timeline(predictor, stretch_samples, regions, duration: float, settings) -> list[Segment]:
    """Segments from ``stretch_samples`` (an iterable of (start seconds, samples) for :func:`stretches` of
    ``regions``, in order), labelled by the predictor's timeline model
    (:attr:`ser.inference.predictor.Predictor.timeline_model`)."""
    predictor = predictor.timeline_model
    features = WindowFeatures(predictor.extractor, predictor.order)
    windows = []
    with WindowRows(len(features.order)) as rows:
        for start, samples in stretch_samples:
            found = windows_in(start, start + len(samples) / SAMPLE_RATE, settings.window, settings.hop)
            rows.append(features(samples, start, found))
            windows += found
        if not windows:
            return []
        probabilities = _probabilities(predictor, rows)
    return segments(windows, probabilities, predictor.classes, duration, settings)


def timeline_of_samples(predictor, samples: np.ndarray, sample_rate: int, settings) -> list[Segment]:
    """The segments of a recording held in memory (``settings``: :class:`ser.config.TimelineParams`)."""
    samples = np.asarray(samples, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    scorer = SpeechScorer()
    scorer.feed(samples)
    duration = len(samples) / SAMPLE_RATE
    regions = regions_of_scores(scorer.finish(), duration, settings.vad)
    pieces = (
        (start, samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]) for start, end in stretches(regions)
    )
    return _timeline(predictor, pieces, regions, duration, settings)


def speech_of_file(path: str, settings, max_seconds: float) -> tuple[list[tuple[float, float]], float]:
    """The speech regions of a file and its duration, from one pass over its blocks; raises
    :class:`AudioError` for what ``ser predict`` refuses (unreadable, non-finite, silent)."""
    scorer, count, peak = SpeechScorer(), 0, 0.0
    for block in decode_blocks(path, SAMPLE_RATE, max_seconds=max_seconds, limit="timeline.max_seconds"):
        scorer.feed(block)
        count += len(block)
        if len(block):
            peak = max(peak, float(np.abs(block).max()))
    if count == 0:
        raise AudioError("has no audio samples")
    if peak < SILENCE_PEAK:
        raise AudioError("is silent (peak below -80 dBFS)")
    duration = count / SAMPLE_RATE
    return regions_of_scores(scorer.finish(), duration, settings.vad), duration


def _stretches_of_file(path: str, pieces: list[tuple[float, float]], max_seconds: float):
    """(start, samples) of each of ``pieces`` (in order, not overlapping), collected in a second pass."""
    spans = [(round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)) for start, end in pieces]
    index, position, parts = 0, 0, []
    for block in decode_blocks(path, SAMPLE_RATE, max_seconds=max_seconds, limit="timeline.max_seconds"):
        end_of_block = position + len(block)
        while index < len(spans):
            first, last = spans[index]
            if first >= end_of_block:
                break
            parts.append(block[max(first, position) - position : min(last, end_of_block) - position])
            if last > end_of_block:
                break
            yield first / SAMPLE_RATE, np.concatenate(parts)
            parts, index = [], index + 1
        position = end_of_block
    if parts:
        yield spans[index][0] / SAMPLE_RATE, np.concatenate(parts)


def timeline_of_file(predictor, path: str, settings) -> Timeline:
    """The :class:`Timeline` of an audio file; raises :class:`AudioError` for a file it cannot use (the reasons
    ``ser predict`` gives; a file longer than ``settings.max_seconds`` is refused from its header)."""
    regions, duration = speech_of_file(path, settings, settings.max_seconds)
    pieces = stretches(regions)
    found = _timeline(predictor, _stretches_of_file(path, pieces, settings.max_seconds), regions, duration, settings)
    return Timeline(str(path), duration, found)


def speaker_timeline_of_file(predictor, path: str, settings, turns) -> Timeline:
    """The :class:`Timeline` of a conversation whose speaker ``turns`` (:class:`ser.timeline.turns.Turn`) are
    known: each speaker's speech (the detector's regions within their turns) is windowed, standardised by that
    speaker's own windows and smoothed on its own, and its segments carry the speaker's name. Each speaker's
    stretches are collected in a pass of their own over the file."""
    from ser.timeline.turns import speaker_regions

    regions, duration = speech_of_file(path, settings, settings.max_seconds)
    found = []
    for speaker, mine in speaker_regions(regions, turns).items():
        pieces = _stretches_of_file(path, stretches(mine), settings.max_seconds)
        found += [
            dataclasses.replace(s, speaker=speaker) for s in _timeline(predictor, pieces, mine, duration, settings)
        ]
    return Timeline(str(path), duration, sorted(found, key=lambda s: (s.start, s.end, s.speaker)))
