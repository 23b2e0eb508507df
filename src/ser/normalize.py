"""Per-speaker feature normalisation: each speaker's rows standardised with that speaker's own statistics.

Acted emotion is largely a change *relative to a speaker's own voice*: a high pitch
or a loud voice means something different for each speaker. Standardising each
feature over one speaker's recordings (mean 0, standard deviation 1 per speaker)
removes those per-speaker offsets and scales. It needs no labels, only a set of
recordings known to come from one speaker, so at test time it is computed from the
test speaker's own unlabeled audio.

One rule everywhere (train, evaluate, crossvalidate, predict): the statistics of a
group of rows come from those rows only. In cross-validation each fold's training
and test rows are normalised separately, so no statistic crosses from one side of a
fold to the other, and a speaker never borrows another speaker's statistics.
"""
from __future__ import annotations

import numpy as np

from ser.config import NORMALIZATIONS

__all__ = ["NORMALIZATIONS", "normalize", "normalize_by_speaker", "speaker_statistics"]


def speaker_statistics(X) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column of one speaker's rows; a constant column gets 1."""
    X = np.asarray(X, dtype=np.float64)
    mean, std = X.mean(axis=0), X.std(axis=0)
    return mean, np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)


def normalize_by_speaker(X, speakers) -> np.ndarray:
    """``X`` with each speaker's rows standardised by that speaker's own mean and standard deviation.

    ``speakers`` gives each row's speaker id. A speaker with one row (or a feature that is
    constant for a speaker) maps to 0 there. Labels are never used.
    """
    X = np.asarray(X, dtype=np.float64)
    speakers = np.asarray(speakers)
    if len(speakers) != len(X):
        raise ValueError(f"{len(speakers)} speaker ids for {len(X)} rows")
    out = np.empty_like(X)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        mean, std = speaker_statistics(X[rows])
        out[rows] = (X[rows] - mean) / std
    return out


def normalize(X, speakers, method: str) -> np.ndarray:
    """Apply ``method`` (``none`` or ``speaker``, the values of ``train.normalize``)."""
    if method == "none":
        return np.asarray(X, dtype=np.float64)
    if method == "speaker":
        return normalize_by_speaker(X, speakers)
    raise ValueError(f"unknown normalisation {method!r}; allowed: {', '.join(NORMALIZATIONS)}")
