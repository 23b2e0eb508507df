"""Emotion diarization scored against the truth of built recordings, on a 10 ms grid.

Each 10 ms frame (labelled by its centre) has a truth label (an emotion, or none for non-speech) and a predicted one
(``uncertain`` counts as none: it claims no emotion). Frames within ``collar`` seconds of a truth boundary (either
end of each truth segment) are not scored: where exactly an episode starts is a matter of a few tens of ms of
breath and onset, not of emotion. Over the scored frames, as shares of the truth's emotion time:

* ``missed``: speech the prediction leaves without an emotion, of which ``uncertain``: speech labelled so;
* ``false_alarm``: an emotion predicted where the truth has none;
* ``confusion``: an emotion predicted where the truth has another;
* ``eder`` (emotion diarization error rate): their sum; it can exceed 1 when false alarms are many;
* ``frame_uar``: the mean over the truth's emotions of the share of that emotion's frames labelled with it.

Several recordings are scored by adding their frame counts (:class:`FrameCounts`), so a long recording weighs
more than a short one, as the time it holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ser.timeline.smoothing import UNCERTAIN  # a label that claims no emotion: scored as non-speech

GRID = 0.01  # seconds per frame


class Labelled(Protocol):
    """A segment of a truth or of a timeline: ``emotion`` from ``start`` to ``end`` seconds."""

    start: float
    end: float
    emotion: str


def _frame_range(start: float, end: float) -> tuple[int, int]:
    """Frames whose centre lies in [start, end)."""
    return int(np.ceil(round(start / GRID - 0.5, 6))), int(np.ceil(round(end / GRID - 0.5, 6)))


def frame_labels(segments: Iterable[Labelled], frames: int, names: dict[str, int]) -> np.ndarray:
    """Each frame's label as its index in ``names`` (-1: no segment)."""
    labels = np.full(frames, -1, dtype=np.int32)
    for segment in segments:
        first, stop = _frame_range(segment.start, segment.end)
        labels[max(first, 0) : max(min(stop, frames), 0)] = names.setdefault(segment.emotion, len(names))
    return labels


def scored_frames(truth: Iterable[Labelled], frames: int, collar: float) -> np.ndarray:
    """True for each frame farther than ``collar`` seconds from every truth boundary."""
    scored = np.ones(frames, dtype=bool)
    if collar > 0:
        centres = (np.arange(frames) + 0.5) * GRID
        for boundary in {edge for segment in truth for edge in (segment.start, segment.end)}:
            low, high = np.searchsorted(centres, [boundary - collar, boundary + collar], side="right")
            scored[low:high] = False
    return scored


@dataclass
class FrameCounts:
    """Scored frames by (truth label, predicted label), ``None`` for no segment; recordings add up."""

    counts: Counter = field(default_factory=Counter)

    def __add__(self, other: FrameCounts) -> FrameCounts:
        return FrameCounts(self.counts + other.counts)

    def scores(self) -> dict[str, float]:
        """eder, frame_uar, missed, uncertain, false_alarm, confusion (see the module's docstring) and the truth's
        emotion seconds scored."""
        counts = Counter()
        for (truth, predicted), n in self.counts.items():
            counts[truth, None if predicted == UNCERTAIN else predicted] += n
        speech = sum(n for (t, _), n in counts.items() if t is not None)
        if speech == 0:
            raise ValueError("the truth has no scored emotion frames: nothing to score")
        missed = sum(n for (t, p), n in counts.items() if t is not None and p is None)
        uncertain = sum(n for (t, p), n in self.counts.items() if t is not None and p == UNCERTAIN)
        false_alarm = sum(n for (t, p), n in counts.items() if t is None and p is not None)
        confusion = sum(n for (t, p), n in counts.items() if None not in (t, p) and t != p)
        emotions = sorted({t for t, _ in counts if t is not None})
        recalls = [counts[e, e] / sum(n for (t, _), n in counts.items() if t == e) for e in emotions]
        return {
            "eder": (missed + false_alarm + confusion) / speech,
            "frame_uar": float(np.mean(recalls)),
            "missed": missed / speech,
            "uncertain": uncertain / speech,
            "false_alarm": false_alarm / speech,
            "confusion": confusion / speech,
            "speech_seconds": speech * GRID,
        }


def frame_counts(
    truth: Iterable[Labelled], predicted: Iterable[Labelled], duration: float, collar: float = 0.25
) -> FrameCounts:
    """One recording's scored frames, counted by (truth emotion, predicted emotion)."""
    truth, frames, names = list(truth), int(np.ceil(round(duration / GRID, 6))), {}
    truth_labels = frame_labels(truth, frames, names)
    predicted_labels = frame_labels(predicted, frames, names)
    scored = scored_frames(truth, frames, collar)
    width = len(names) + 1
    codes, counts = np.unique((truth_labels[scored] + 1) * width + predicted_labels[scored] + 1, return_counts=True)
    label = {index + 1: name for name, index in names.items()} | {0: None}
    return FrameCounts(
        Counter({(label[code // width], label[code % width]): int(n) for code, n in zip(codes.tolist(), counts)})
    )
