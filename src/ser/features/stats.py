"""Statistics over a family's frames (``features.stats``): each maps ``(rows, frames)`` to one value per row.

Adding one means an entry in :data:`STATS` and its name in ``ser.names.FEATURE_STATS``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _as64(frames: np.ndarray) -> np.ndarray:
    return np.asarray(frames, dtype=np.float64)


def _std(frames: np.ndarray) -> np.ndarray:
    return _as64(frames).std(axis=1)


def _standardised_moment(frames: np.ndarray, order: int) -> np.ndarray:
    """Skewness (3) or excess kurtosis (4) of each row; 0 for a constant row."""
    frames = _as64(frames)
    centred = frames - frames.mean(axis=1, keepdims=True)
    squared = centred * centred  # products, not `** order`: numpy's general power is several times slower
    variance = squared.mean(axis=1)
    flat = variance <= np.finfo(np.float64).tiny
    powered = squared * centred if order == 3 else squared * squared
    moment = powered.mean(axis=1) / np.where(flat, 1.0, variance) ** (order / 2)
    if order == 4:
        moment = moment - 3.0
    return np.where(flat, 0.0, moment)


def _slope(frames: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row against the frame index (0 for a single frame)."""
    frames = _as64(frames)
    index = np.arange(frames.shape[1], dtype=np.float64)
    index -= index.mean()
    denominator = (index**2).sum()
    return frames @ index / denominator if denominator > 0 else np.zeros(frames.shape[0])


STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda frames: frames.mean(axis=1),
    "std": _std,
    "min": lambda frames: _as64(frames).min(axis=1),
    "max": lambda frames: _as64(frames).max(axis=1),
    "median": lambda frames: np.median(_as64(frames), axis=1),
    "p10": lambda frames: np.percentile(_as64(frames), 10, axis=1),
    "p90": lambda frames: np.percentile(_as64(frames), 90, axis=1),
    "skew": lambda frames: _standardised_moment(frames, 3),
    "kurtosis": lambda frames: _standardised_moment(frames, 4),
    "slope": _slope,
}
