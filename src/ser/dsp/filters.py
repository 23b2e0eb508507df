"""Frequency scales and filter banks for the shared power spectrogram, in plain numpy.

Each function reproduces the definition librosa uses by default (Slaney's mel
scale and area normalisation, Ellis's Gaussian chroma bank, the orthonormal
DCT-II, ``power_to_db`` with a 1e-10 floor and an 80 dB range), so the features
equal librosa's, without importing librosa (about a second of start-up, and a
numba compile on a fresh machine). The tests compare each against librosa.
"""

from __future__ import annotations

import numpy as np

# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above,
# with 27 mel steps per factor of 6.4 in frequency.
_MEL_LINEAR_HZ = 200.0 / 3
_MEL_BREAK_HZ = 1000.0
_MEL_BREAK = _MEL_BREAK_HZ / _MEL_LINEAR_HZ
_MEL_LOG_STEP = np.log(6.4) / 27.0

A4_HZ = 440.0
DB_FLOOR_POWER = 1e-10
DB_RANGE = 80.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Frequency in Hz to Slaney mels."""
    hz = np.asarray(hz, dtype=np.float64)
    above = hz >= _MEL_BREAK_HZ
    log_part = _MEL_BREAK + np.log(np.maximum(hz, _MEL_BREAK_HZ) / _MEL_BREAK_HZ) / _MEL_LOG_STEP
    return np.where(above, log_part, hz / _MEL_LINEAR_HZ)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Slaney mels to frequency in Hz (inverse of :func:`hz_to_mel`)."""
    mel = np.asarray(mel, dtype=np.float64)
    above = mel >= _MEL_BREAK
    log_part = _MEL_BREAK_HZ * np.exp(_MEL_LOG_STEP * (np.maximum(mel, _MEL_BREAK) - _MEL_BREAK))
    return np.where(above, log_part, mel * _MEL_LINEAR_HZ)


def fft_frequencies(sample_rate: int, n_fft: int) -> np.ndarray:
    """Centre frequency of each of the ``n_fft // 2 + 1`` rFFT bins."""
    return np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)


def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular filters equally spaced in mels from 0 Hz to Nyquist, each of unit area.

    Shape ``(n_mels, n_fft // 2 + 1)``, float32.
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    bins = fft_frequencies(sample_rate, n_fft)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return (triangles * (2.0 / (upper - lower))).astype(np.float32)


class BlockedBank:
    """A sparse filter bank applied block by block, each block only to the bins its filters cover.

    Mel filters are narrow: a dense product spends most of its time multiplying zeros.
    ``bank @ spectrum`` equals the dense product up to float rounding, at about a third of
    the cost for a 128-band bank.
    """

    def __init__(self, bank: np.ndarray, rows_per_block: int = 16):
        self.shape = bank.shape
        self.dtype = bank.dtype
        self.blocks = []
        for start in range(0, bank.shape[0], rows_per_block):
            rows = bank[start : start + rows_per_block]
            used = np.flatnonzero(rows.any(axis=0))
            low, high = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
            self.blocks.append((start, start + len(rows), low, high, np.ascontiguousarray(rows[:, low:high])))

    def __matmul__(self, spectrum: np.ndarray) -> np.ndarray:
        out = np.empty((self.shape[0], spectrum.shape[1]), dtype=np.result_type(self.dtype, spectrum.dtype))
        for start, stop, low, high, rows in self.blocks:
            np.matmul(rows, spectrum[low:high], out=out[start:stop])
        return out


def chroma_filter_bank(sample_rate: int, n_fft: int, n_chroma: int, tuning: float = 0.0) -> np.ndarray:
    """Gaussian pitch-class weights for each FFT bin, starting at C.

    Every bin (above DC) is placed on a log-frequency axis in pitch-class units
    relative to A4 shifted by ``tuning`` (fractions of a bin); each pitch class
    gets a Gaussian bump per octave, as wide as the bin spacing there (at least one
    class), columns are scaled to unit L2 norm, then weighted by a Gaussian over
    octaves centred on octave 5 (about 880 Hz) two octaves wide. Shape
    ``(n_chroma, n_fft // 2 + 1)``, float32.
    """
    reference = A4_HZ * 2.0 ** (tuning / n_chroma) / 16  # A0, shifted by the tuning
    frequencies = np.arange(1, n_fft) * (sample_rate / n_fft)
    position = n_chroma * np.log2(frequencies / reference)  # in pitch classes above A0
    position = np.concatenate(([position[0] - 1.5 * n_chroma], position))  # DC: well below the first bin
    width = np.concatenate((np.maximum(np.diff(position), 1.0), [1.0]))
    half = np.round(n_chroma / 2)
    distance = np.remainder(position[None, :] - np.arange(n_chroma)[:, None] + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / width) ** 2)
    norms = np.sqrt((weights**2).sum(axis=0))
    weights = weights / np.where(norms < np.finfo(np.float64).tiny, 1.0, norms)
    weights *= np.exp(-0.5 * ((position / n_chroma - 5.0) / 2.0) ** 2)
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)  # start the classes at C, not A
    return np.ascontiguousarray(weights[:, : n_fft // 2 + 1], dtype=np.float32)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """The first ``n_out`` rows of the orthonormal DCT-II of length ``n_in``, float32."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    matrix[0] /= np.sqrt(2.0)
    return matrix.astype(np.float32)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """Power in dB re 1, floored at 1e-10 and at 80 dB below the array's peak."""
    db = 10.0 * np.log10(np.maximum(power, power.dtype.type(DB_FLOOR_POWER)))
    return np.maximum(db, db.max() - power.dtype.type(DB_RANGE))
