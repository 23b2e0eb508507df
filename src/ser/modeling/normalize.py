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

__all__ = [
    "NORMALIZATIONS",
    "new_speaker_statistics",
    "normalize",
    "normalize_by_speaker",
    "normalize_each_alone",
    "normalize_held_out",
    "normalize_new_speakers",
    "reference_statistics",
    "speaker_statistics",
    "streamed_speaker_statistics",
]

# ser predict: a speaker with fewer recordings than this has statistics too noisy to use alone, so they are
# shrunk toward the training speakers' average with the weight of SHRINK_PRIOR recordings. Measured on the
# real RAVDESS test actors (README): UAR 0.42 from two recordings' own statistics, 0.50 shrunk; 0.48 for
# a lone recording against the training speakers' average alone.
SHRINK_BELOW = 10
SHRINK_PRIOR = 2.0
STATISTICS_ROWS = 1024  # rows whose squared deviations from the mean are summed at once


def speaker_statistics(X) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column of one speaker's rows; a constant column gets 1.

    Parameters
    ----------
    X : array_like
        Shape ``(n_rows, n_features)``.

    Returns
    -------
    mean, std : numpy.ndarray
        Each of shape ``(n_features,)``.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    return mean, _floored(X.std(axis=0), mean)


def _floored(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``std`` with 1 where a column is constant: a deviation within rounding of its mean (relative 1e-12) is 0."""
    return np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)


def normalize_by_speaker(X, speakers) -> np.ndarray:
    """``X`` with each speaker's rows standardised by that speaker's own mean and standard deviation.

    A speaker with one row (or a feature that is constant for a speaker) maps to 0 there. Labels are
    never used.

    Parameters
    ----------
    X : array_like
        Shape ``(n_files, n_features)``.
    speakers : array_like
        Shape ``(n_files,)``, each row's speaker id.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_files, n_features)``, float64.

    Raises
    ------
    ValueError
        ``speakers`` and ``X`` differ in length.
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


def reference_statistics(X, speakers) -> tuple[np.ndarray, np.ndarray]:
    """The average speaker of a training set, which a new speaker with few recordings is shrunk toward.

    Parameters
    ----------
    X : array_like
        Shape ``(n_files, n_features)``.
    speakers : array_like
        Shape ``(n_files,)``, each row's speaker id.

    Returns
    -------
    mean, std : numpy.ndarray
        Each of shape ``(n_features,)``: the mean of the speakers' means, and the pooled within-speaker
        standard deviation (root mean of their variances: a column constant for one speaker pools its 0);
        a column constant for every speaker gets 1.
    """
    X = np.asarray(X, dtype=np.float64)
    speakers = np.asarray(speakers)
    groups = [X[speakers == speaker] for speaker in np.unique(speakers)]
    mean = np.mean([rows.mean(axis=0) for rows in groups], axis=0)
    return mean, _floored(np.sqrt(np.mean([rows.var(axis=0) for rows in groups], axis=0)), mean)


def normalize_new_speakers(X, speakers, reference: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Standardise unseen speakers' rows for prediction.

    A speaker with at least :data:`SHRINK_BELOW` rows is standardised exactly as
    :func:`normalize_by_speaker` does (so ``ser predict`` agrees with the evaluate stage);
    with fewer, their mean and variance are averaged with ``reference`` (the training
    speakers' average, :func:`reference_statistics`), weighted ``n`` to ``SHRINK_PRIOR``:
    a single recording leans mostly on the reference.

    Parameters
    ----------
    X : array_like
        Shape ``(n_files, n_features)``.
    speakers : sequence
        Length ``n_files``, each row's speaker id.
    reference : tuple of numpy.ndarray
        ``(mean, std)``, each of shape ``(n_features,)``, from :func:`reference_statistics`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_files, n_features)``, float64.
    """
    X = np.asarray(X, dtype=np.float64)
    groups: dict[str, list[int]] = {}
    for row, speaker in enumerate(speakers):  # one pass: many unnamed files are many one-row speakers
        groups.setdefault(speaker, []).append(row)
    out = np.empty_like(X)
    for rows in groups.values():
        own = X[rows]
        mean, std = new_speaker_statistics(own, reference)
        out[rows] = (own - mean) / std
    return out


def new_speaker_statistics(X, reference: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and standard deviation :func:`normalize_new_speakers` standardises one unseen speaker's rows
    with: their own from :data:`SHRINK_BELOW` rows, else shrunk toward ``reference``. Summed in float64 over
    blocks of rows, so a float32 ``X`` of many rows (a long recording's windows) is never copied whole.

    Parameters
    ----------
    X : numpy.ndarray
        Shape ``(n_rows, n_features)``, one speaker's rows.
    reference : tuple of numpy.ndarray
        ``(mean, std)``, each of shape ``(n_features,)``, from :func:`reference_statistics`.

    Returns
    -------
    mean, std : numpy.ndarray
        Each of shape ``(n_features,)``.
    """
    X = np.asarray(X)
    return streamed_speaker_statistics(
        lambda: (X[i : i + STATISTICS_ROWS] for i in range(0, len(X), STATISTICS_ROWS)), reference
    )


def streamed_speaker_statistics(blocks, reference: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`new_speaker_statistics` of rows given block by block, so that they need never be held at once (a
    long recording's windows, read back from disk). The sums run row after row in float64, as numpy's mean over
    the rows of a C-ordered array does, so the numbers are the same as for the rows stacked.

    Parameters
    ----------
    blocks : callable
        Called twice (for the mean, then the variance), each time returning an iterator over the rows in order,
        in float arrays of :data:`STATISTICS_ROWS` rows (fewer in the last one).
    reference : tuple of numpy.ndarray
        ``(mean, std)``, as for :func:`new_speaker_statistics`.

    Returns
    -------
    mean, std : numpy.ndarray
        Each of shape ``(n_features,)``, as :func:`new_speaker_statistics` returns them.
    """
    total, count = None, 0
    for block in blocks():
        total = np.zeros(block.shape[1]) if total is None else total
        for row in block:
            total += row
        count += len(block)
    mean = total / count
    variance = sum(_squared_deviations(block, mean).sum(axis=0) for block in blocks()) / count
    if count >= SHRINK_BELOW:
        return mean, _floored(np.sqrt(variance), mean)
    reference_mean, reference_std = reference
    weight = count / (count + SHRINK_PRIOR)
    shrunk_mean = weight * mean + (1 - weight) * reference_mean
    std = np.sqrt(weight * variance + (1 - weight) * reference_std**2)
    return shrunk_mean, np.where(std > 0, std, 1.0)


def _squared_deviations(block: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``(block - mean) ** 2``, squared in place: one float64 copy of the block, not two."""
    deviations = block - mean
    deviations **= 2
    return deviations


def normalize_each_alone(X, method: str, reference: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each row as the lone recording of a speaker never heard, as ``ser predict`` normalises one file.

    Parameters
    ----------
    X : array_like
        Shape ``(n_files, n_features)``.
    method : str
        ``none`` (rows returned as float64) or ``speaker`` (each row's statistics shrunk toward ``reference``,
        :func:`normalize_new_speakers`).
    reference : tuple of numpy.ndarray
        ``(mean, std)``, each of shape ``(n_features,)``, from :func:`reference_statistics`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_files, n_features)``, float64.
    """
    if method == "none":
        return np.asarray(X, dtype=np.float64)
    return normalize_new_speakers(X, np.arange(len(X)), reference)


def normalize(X, speakers, method: str) -> np.ndarray:
    """Normalise rows as ``train.normalize`` says, each group of rows by its own statistics only.

    Parameters
    ----------
    X : array_like
        Shape ``(n_files, n_features)``.
    speakers : array_like
        Shape ``(n_files,)``, each row's speaker id (unused by ``none``).
    method : str
        ``none`` or ``speaker`` (:func:`normalize_by_speaker`).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_files, n_features)``, float64.

    Raises
    ------
    ValueError
        ``method`` is neither.
    """
    if method == "none":
        return np.asarray(X, dtype=np.float64)
    if method == "speaker":
        return normalize_by_speaker(X, speakers)
    raise ValueError(f"unknown normalisation {method!r}; allowed: {', '.join(NORMALIZATIONS)}")


def normalize_held_out(X, speakers, method: str, reference: tuple[np.ndarray, np.ndarray] | None):
    """Held-out rows normalised the two ways they are scored.

    Parameters
    ----------
    X : numpy.ndarray
        Shape ``(n_files, n_features)``, the held-out files' features.
    speakers : array_like
        Shape ``(n_files,)``, each file's speaker.
    method : str
        ``train.normalize``: ``none`` or ``speaker``.
    reference : tuple of numpy.ndarray, or None
        The training speakers' average ``(mean, std)``, each of shape ``(n_features,)``; used only by ``speaker``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(together, alone)``, each of shape ``(n_files, n_features)``: each speaker's recordings normalised together
        (:func:`normalize`), and each recording alone against ``reference``, as ``ser predict`` takes one file
        (:func:`normalize_each_alone`).
    """
    return normalize(X, speakers, method), normalize_each_alone(X, method, reference)
