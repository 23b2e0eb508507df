"""From windows' probabilities to segments: averaged over overlaps on a 10 ms grid, smoothed over time, merged.

Each 10 ms cell of speech gets the mean probabilities of the windows covering it (``average``). Then, within each
speech region, one of (``timeline.smoothing``):

* ``average``: each cell's top emotion;
* ``median``: each emotion's probability median-filtered over ``median_seconds`` first;
* ``viterbi``: the sequence of emotions that maximises the sum over cells of the log probability of the cell's
  emotion, weighted by the cell's length in seconds, minus ``change_penalty`` for each change of emotion
  (an HMM whose states are the emotions, decoded with Viterbi). The cells between two window boundaries share
  their probabilities, so it runs over those runs, not over each cell.

Neighbouring cells of one emotion within a region form a segment; its ``confidence`` is the mean over its cells of
their averaged probability of that emotion, and its ``probabilities`` the mean of every emotion's. A segment
whose confidence is below ``uncertain`` is labelled ``uncertain`` (joined with uncertain neighbours). Non-speech
has no segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL = 0.01  # seconds
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Segment:
    """A stretch of speech of one emotion (or ``uncertain``), in seconds."""

    start: float
    end: float
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    speaker: str | None = None  # who speaks, when the recording's speaker turns are given

    def as_dict(self, digits: int | None = None) -> dict:
        """``{"start", "end", "emotion", "confidence", "probabilities"}`` and ``speaker`` when known, numbers rounded
        to ``digits`` if given."""
        r = (lambda x: round(x, digits)) if digits is not None else (lambda x: x)
        return {
            "start": round(float(self.start), 2),
            "end": round(float(self.end), 2),
            "emotion": self.emotion,
            "confidence": r(self.confidence),
            "probabilities": {c: r(p) for c, p in self.probabilities.items()},
            **({"speaker": self.speaker} if self.speaker is not None else {}),
        }


def cell(seconds: float) -> int:
    """The 10 ms cell a time falls on (by rounding)."""
    return int(round(seconds / CELL))


def _covered_runs(windows, cells: int) -> list[tuple[int, int, list[int]]]:
    """``(first, last, members)`` of each run ``[first, last)`` of cells that windows cover, in time order, with the
    indices of the windows covering it (in their given order): a recording's grid is filled one run at a time, so
    hours of it take the memory of its longest run of speech."""
    spans = [(cell(w.start), min(cells, cell(w.end))) for w in windows]
    runs: list[list] = []
    for index in sorted((i for i, (a, b) in enumerate(spans) if b > a), key=lambda i: spans[i][0]):
        first, last = spans[index]
        if runs and first <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], last)
            runs[-1][2].append(index)
        else:
            runs.append([first, last, [index]])
    return [(first, last, sorted(members)) for first, last, members in runs]


def averaged(windows, probabilities: np.ndarray, first: int, last: int) -> np.ndarray:
    """Each cell's mean probabilities over ``windows`` (which cover every cell of ``[first, last)``)."""
    total = np.zeros((last - first, probabilities.shape[1]), np.float32)
    count = np.zeros(last - first, np.float32)
    for window, row in zip(windows, probabilities):
        a, b = cell(window.start) - first, min(last, cell(window.end)) - first
        total[a:b] += row
        count[a:b] += 1
    return total / count[:, np.newaxis]


def _median_filtered(probabilities: np.ndarray, seconds: float) -> np.ndarray:
    from scipy.ndimage import median_filter

    size = max(1, cell(seconds) | 1)
    return median_filter(probabilities, size=(size, 1), mode="nearest")


def _viterbi(probabilities: np.ndarray, penalty: float) -> np.ndarray:
    """Each cell's state on the best path (see the module's docstring)."""
    change = np.flatnonzero(np.any(probabilities[1:] != probabilities[:-1], axis=1)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [len(probabilities)]]))
    emission = np.log(np.maximum(probabilities[starts], 1e-6)) * (lengths * CELL)[:, np.newaxis]
    score = emission[0].copy()
    back = np.zeros(emission.shape, np.int64)
    states = np.arange(emission.shape[1])
    for run in range(1, len(starts)):
        best = int(score.argmax())
        stay = score
        move = score[best] - penalty
        back[run] = np.where(stay >= move, states, best)
        score = np.maximum(stay, move) + emission[run]
    path = np.empty(len(starts), np.int64)
    path[-1] = int(score.argmax())
    for run in range(len(starts) - 1, 0, -1):
        path[run - 1] = back[run, path[run]]
    return np.repeat(path, lengths)


SMOOTHERS = {  # timeline.smoothing: each cell's emotion (an index) from a speech region's averaged probabilities
    "average": lambda region, settings: region.argmax(axis=1),
    "median": lambda region, settings: _median_filtered(region, settings.median_seconds).argmax(axis=1),
    "viterbi": lambda region, settings: _viterbi(region, settings.change_penalty),
}


def segments(windows, probabilities: np.ndarray, classes: list[str], duration: float, settings) -> list[Segment]:
    """The segments of a recording of ``duration`` seconds from its windows and their probabilities
    (``settings``: :class:`ser.config.TimelineParams`)."""
    if not len(windows):
        return []
    probabilities = np.asarray(probabilities, np.float32)
    found: list[Segment] = []
    for first, last, members in _covered_runs(windows, cell(duration) + 1):
        region = averaged([windows[i] for i in members], probabilities[members], first, last)
        labels = SMOOTHERS[settings.smoothing](region, settings)
        bounds = np.flatnonzero(np.diff(labels)) + 1
        for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(labels)]])):
            label = int(labels[a])
            part = region[a:b].mean(axis=0)
            confidence = float(region[a:b, label].mean())
            emotion = classes[label] if confidence >= settings.uncertain else UNCERTAIN
            start, end = float((first + a) * CELL), float(min(duration, (first + b) * CELL))
            probabilities_ = {c: float(p) for c, p in zip(classes, part)}
            previous = found[-1] if found else None
            if emotion == UNCERTAIN and previous and previous.emotion == UNCERTAIN and previous.end >= start - 1e-9:
                weight = (previous.end - previous.start) / (end - previous.start)
                joined = {c: weight * previous.probabilities[c] + (1 - weight) * probabilities_[c] for c in classes}
                confidence = weight * previous.confidence + (1 - weight) * confidence
                found[-1] = Segment(previous.start, end, UNCERTAIN, confidence, joined)
            else:
                found.append(Segment(start, end, emotion, confidence, probabilities_))
    return found
