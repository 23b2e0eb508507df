"""Frame-level acoustic descriptors from a shared power spectrogram or the framed signal.

Plain numpy and scipy, no librosa, so the feature path starts fast. Spectral
descriptors take the power spectrogram ``|STFT|^2`` of shape ``(n_fft // 2 + 1,
frames)`` that every feature family shares; where librosa defines the same
descriptor on the magnitude ``|STFT|`` (roll-off, centroid, contrast), the
magnitude is taken here too, so values agree with ``librosa.feature.*(S=...)``
on the same spectrogram. Signal descriptors (zero-crossing rate, pitch) frame
the samples exactly as the STFT does (centred, ``n_fft`` samples, one frame per
hop), so every descriptor has one value per STFT frame.

Every function returns a 2-D array: one row per coefficient, one column per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from ser.dsp.filters import DB_FLOOR_POWER, chroma_filter_bank, fft_frequencies, power_to_db
from ser.dsp.frames import frame_signal

F0_MIN, F0_MAX = 60.0, 600.0  # Hz: the pitch range searched, wide enough for shouted and whispered-high acted speech
YIN_THRESHOLD = 0.1  # first dip of the normalised difference below this is the period (de Cheveigne & Kawahara 2002)
VOICING_THRESHOLD = 0.4  # a frame is voiced when its best dip is below this...
SILENCE_DB = 50.0  # ...and its energy is within this many dB of the file's loudest frame
TUNING_FMIN, TUNING_FMAX = 150.0, 4000.0  # librosa.piptrack's default search band
ACTIVE_DB = 40.0  # spectral balance is taken over frames within this many dB of the loudest (not the pauses)


def spectral_flatness(power: np.ndarray) -> np.ndarray:
    """Geometric over arithmetic mean of each frame's power (Wiener entropy): 1 for white noise, near 0 for a tone.

    Parameters
    ----------
    power : numpy.ndarray
        Power spectrogram, shape ``(1 + n_fft // 2, n_frames)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(1, n_frames)``.
    """
    floored = np.maximum(power.astype(np.float64), DB_FLOOR_POWER)
    return (np.exp(np.mean(np.log(floored), axis=0)) / np.mean(floored, axis=0))[np.newaxis]


def spectral_rolloff(power: np.ndarray, *, sample_rate: int, n_fft: int, roll_percent: float = 0.85) -> np.ndarray:
    """Lowest bin frequency below which ``roll_percent`` of the frame's magnitude lies.

    Parameters
    ----------
    power : numpy.ndarray
        Power spectrogram, shape ``(1 + n_fft // 2, n_frames)``.
    sample_rate, n_fft : int
        The rate in Hz and FFT size that made ``power``.
    roll_percent : float
        The share of the magnitude, in (0, 1].

    Returns
    -------
    numpy.ndarray
        Hz, shape ``(1, n_frames)``.
    """
    magnitude = np.sqrt(power.astype(np.float64))
    cumulative = np.cumsum(magnitude, axis=0)
    reached = cumulative >= roll_percent * cumulative[-1]
    return fft_frequencies(sample_rate, n_fft)[np.argmax(reached, axis=0)][np.newaxis]


def spectral_centroid(power: np.ndarray, *, sample_rate: int, n_fft: int) -> np.ndarray:
    """Magnitude-weighted mean frequency of each frame (0 for an all-zero frame).

    Parameters
    ----------
    power : numpy.ndarray
        Power spectrogram, shape ``(1 + n_fft // 2, n_frames)``.
    sample_rate, n_fft : int
        The rate in Hz and FFT size that made ``power``.

    Returns
    -------
    numpy.ndarray
        Hz, shape ``(1, n_frames)``.
    """
    magnitude = np.sqrt(power.astype(np.float64))
    total = magnitude.sum(axis=0)
    weighted = fft_frequencies(sample_rate, n_fft) @ magnitude
    return np.where(total > 0, weighted / np.where(total > 0, total, 1.0), 0.0)[np.newaxis]


def spectral_contrast(
    power: np.ndarray, *, sample_rate: int, n_fft: int, n_bands: int = 6, fmin: float = 200.0, quantile: float = 0.02
) -> np.ndarray:
    """Peak minus valley level in dB of ``n_bands + 1`` octave bands (Jiang et al. 2002).

    Band edges are ``0, fmin, 2 fmin, ... , 2**n_bands fmin`` (the last band runs to
    Nyquist); in each band the valley is the mean of the lowest ``quantile`` of
    magnitudes and the peak the mean of the highest, as ``librosa.feature.spectral_contrast``.
    Bands that start above Nyquist (low sample rates) are rows of zeros.

    Parameters
    ----------
    power : numpy.ndarray
        Power spectrogram, shape ``(1 + n_fft // 2, n_frames)``.
    sample_rate, n_fft : int
        The rate in Hz and FFT size that made ``power``.
    n_bands : int
        Octave bands above ``fmin``; the result has one more row, the band below ``fmin``.
    fmin : float
        The top of the lowest band, in Hz.
    quantile : float
        The share of each band's magnitudes averaged for its peak and for its valley.

    Returns
    -------
    numpy.ndarray
        dB, shape ``(n_bands + 1, n_frames)``.
    """
    magnitude = np.sqrt(power.astype(np.float64))
    frequencies = fft_frequencies(sample_rate, n_fft)
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * 2.0 ** np.arange(n_bands + 1)
    frames = magnitude.shape[1]
    valley = np.zeros((n_bands + 1, frames))
    peak = np.zeros((n_bands + 1, frames))
    usable = np.zeros(n_bands + 1, dtype=bool)
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        in_band = (frequencies >= low) & (frequencies <= high)
        members = np.flatnonzero(in_band)
        if low >= sample_rate / 2 or members.size == 0:
            continue
        if k > 0:
            in_band[members[0] - 1] = True  # the bin just below the band belongs to it too
        if k == n_bands:
            in_band[members[-1] + 1 :] = True  # the last band runs to Nyquist
        band = magnitude[in_band]
        if k < n_bands:
            band = band[:-1]  # the top edge bin belongs to the next band
        count = max(int(np.rint(quantile * in_band.sum())), 1)
        ordered = np.sort(band, axis=0)
        valley[k] = ordered[:count].mean(axis=0)
        peak[k] = ordered[-count:].mean(axis=0)
        usable[k] = True
    contrast = power_to_db(peak) - power_to_db(valley)
    contrast[~usable] = 0.0
    return contrast


def rms_energy(power: np.ndarray, *, n_fft: int) -> np.ndarray:
    """Root-mean-square level of each windowed frame, from its spectrum by Parseval's theorem.

    Parameters
    ----------
    power : numpy.ndarray
        Power spectrogram, shape ``(1 + n_fft // 2, n_frames)``.
    n_fft : int
        The FFT size that made ``power``.

    Returns
    -------
    numpy.ndarray
        Shape ``(1, n_frames)``, on the samples' scale (1 is a full-scale RMS).
    """
    weights = np.full(power.shape[0], 2.0)
    weights[0] = 1.0  # DC and (for even n_fft) Nyquist appear once in the one-sided spectrum
    if n_fft % 2 == 0:
        weights[-1] = 1.0
    return np.sqrt(weights @ power.astype(np.float64) / n_fft**2)[np.newaxis]


def level_db(power: np.ndarray, *, n_fft: int) -> np.ndarray:
    """Frame level in dB relative to a full-scale RMS of 1 (``20 log10`` of :func:`rms_energy`, floored at -100 dB)."""
    return 10.0 * np.log10(np.maximum(rms_energy(power, n_fft=n_fft) ** 2, DB_FLOOR_POWER))


def active_frames(power: np.ndarray, *, n_fft: int, within_db: float = ACTIVE_DB) -> np.ndarray:
    """Mask of the frames whose level is within ``within_db`` of the loudest frame's."""
    level = level_db(power, n_fft=n_fft)[0]
    return level >= level.max() - within_db


def spectral_balance(power: np.ndarray, *, sample_rate: int, n_fft: int) -> np.ndarray:
    """Four rows per frame describing the tilt of the spectrum, as in eGeMAPS (Eyben et al. 2016):

    0. alpha ratio: energy in 50-1000 Hz over energy in 1-5 kHz, in dB;
    1. Hammarberg index: strongest bin in 0-2 kHz over strongest in 2-5 kHz, in dB;
    2. and 3. spectral slope in 0-500 Hz and 500-1500 Hz: least-squares slope of the bins' level
       in dB against frequency, in dB per kHz.

    Bands are cut at Nyquist; a band with no bin gives zeros.
    """
    power = power.astype(np.float64)
    frequencies = fft_frequencies(sample_rate, n_fft)
    level = 10.0 * np.log10(np.maximum(power, DB_FLOOR_POWER))

    def band(low, high):
        return (frequencies >= low) & (frequencies < high)

    def ratio(numerator, denominator):
        if not numerator.any() or not denominator.any():
            return np.zeros(power.shape[1])
        top, bottom = power[numerator].sum(axis=0), power[denominator].sum(axis=0)
        return 10.0 * np.log10(np.maximum(top, DB_FLOOR_POWER) / np.maximum(bottom, DB_FLOOR_POWER))

    def hammarberg(low, high):
        if not low.any() or not high.any():
            return np.zeros(power.shape[1])
        return level[low].max(axis=0) - level[high].max(axis=0)

    def slope(mask):
        if mask.sum() < 2:
            return np.zeros(power.shape[1])
        x = frequencies[mask] / 1000.0
        x = x - x.mean()
        y = level[mask]
        return x @ (y - y.mean(axis=0)) / (x @ x)

    return np.vstack(
        [
            ratio(band(50, 1000), band(1000, 5000)),
            hammarberg(band(0, 2000), band(2000, 5000)),
            slope(band(0, 500)),
            slope(band(500, 1500)),
        ]
    )


def chromagram(power: np.ndarray, *, sample_rate: int, n_fft: int, n_chroma: int) -> np.ndarray:
    """Chromagram as ``librosa.feature.chroma_stft(S=power)``, with its per-file tuning estimate.

    Parameters
    ----------
    power : numpy.ndarray
        Power spectrogram, shape ``(1 + n_fft // 2, n_frames)``.
    sample_rate, n_fft : int
        The rate in Hz and FFT size that made ``power``.
    n_chroma : int
        Pitch classes per octave.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_chroma, n_frames)``, each frame scaled so that its largest class is 1.
    """
    tuning = estimate_tuning(power, sample_rate, n_fft, n_chroma)
    raw = _chroma_basis(sample_rate, n_fft, n_chroma, tuning) @ power
    peak = np.abs(raw).max(axis=0, keepdims=True)
    return raw / np.where(peak < np.finfo(raw.dtype).tiny, 1.0, peak)


def estimate_tuning(power: np.ndarray, sample_rate: int, n_fft: int, bins_per_octave: int) -> float:
    """``librosa.estimate_tuning(S=power, ...)``, computed on the search band only.

    Same steps as librosa's ``piptrack`` + ``pitch_tuning`` (spectral peaks above a
    tenth of each frame's maximum, refined by parabolic interpolation, kept where
    their magnitude reaches the median, then the histogram peak of their deviation
    from equal temperament in 0.01-bin steps) and the same float32 arithmetic, so it
    returns the same value, without building full-size intermediate arrays.
    """
    band = _tuning_band(sample_rate, n_fft)
    if band is None:
        return 0.0
    low, high = band
    rows_around = power[low - 1 : high + 1]  # the band and one bin either side
    inner = rows_around[1:-1]
    # librosa's local maxima of the power zeroed below a tenth of each frame's peak: a bin above that
    # threshold is such a maximum exactly when it exceeds the bin below and is not exceeded by the one above.
    peaks = inner > power.dtype.type(0.1) * power.max(axis=0, keepdims=True)
    peaks &= inner > rows_around[:-2]
    peaks &= inner >= rows_around[2:]
    rows, cols = np.divmod(np.flatnonzero(peaks), peaks.shape[1])
    if rows.size == 0:
        return 0.0
    centre = rows_around[rows + 1, cols]  # only at the peaks: same float32 arithmetic, far fewer values
    below_, above_ = rows_around[rows, cols], rows_around[rows + 2, cols]
    a = above_ + below_ - 2 * centre
    b = (above_ - below_) / 2
    shift = np.where(np.abs(b) >= np.abs(a), 0, -b / np.where(a == 0, 1, a)).astype(power.dtype)
    pitch = (rows + low + shift) * power.dtype.type(sample_rate / n_fft)
    magnitude = centre + power.dtype.type(0.5) * b * shift
    keep = pitch > 0
    threshold = np.median(magnitude[keep])
    chosen = pitch[(magnitude >= threshold) & keep]
    if chosen.size == 0:
        return 0.0
    residual = np.mod(bins_per_octave * np.log2(chosen / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0
    counts, edges = np.histogram(residual, np.linspace(-0.5, 0.5, 101))
    return float(edges[np.argmax(counts)])


@lru_cache(maxsize=16)
def _tuning_band(sample_rate: int, n_fft: int) -> tuple[int, int] | None:
    """First and past-last bin of the tuning search band, or None if no bin falls in it."""
    frequencies = fft_frequencies(sample_rate, n_fft)
    band = np.flatnonzero((frequencies >= TUNING_FMIN) & (frequencies < min(TUNING_FMAX, sample_rate / 2)))
    return (int(band[0]), int(band[-1]) + 1) if band.size else None


@lru_cache(maxsize=256)
def _chroma_basis(sample_rate: int, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    """Chroma filter bank; tuning takes few distinct values, so banks are reused."""
    return chroma_filter_bank(sample_rate, n_fft, n_chroma, tuning)


def zero_crossing_rate(
    samples: np.ndarray, *, frame_length: int, hop_length: int, threshold: float = 1e-10
) -> np.ndarray:
    """Share of adjacent sample pairs in each frame whose signs differ; magnitudes up to ``threshold`` count as 0
    (positive).

    The signal is padded by repeating its edge samples, as ``librosa.feature.zero_crossing_rate``.

    Parameters
    ----------
    samples : numpy.ndarray
        Mono samples, shape ``(n_samples,)``.
    frame_length, hop_length : int
        Frame size and step, in samples (the STFT's ``n_fft`` and ``hop_length``, so frames align with it).
    threshold : float
        Magnitudes up to this count as 0.

    Returns
    -------
    numpy.ndarray
        Shape ``(1, 1 + n_samples // hop_length)``, in [0, 1].
    """
    frames = frame_signal(samples, frame_length=frame_length, hop_length=hop_length, pad_mode="edge")
    negative = np.signbit(np.where(np.abs(frames) <= threshold, 0.0, frames))
    return (np.count_nonzero(negative[:, 1:] != negative[:, :-1], axis=1) / frame_length)[np.newaxis]


def delta(frames: np.ndarray, *, order: int = 1, width: int = 9) -> np.ndarray:
    """Local derivative along time: a Savitzky-Golay fit of ``width`` frames (as ``librosa.feature.delta``).

    Files with fewer than ``width`` frames use the widest odd window they have;
    with fewer frames than the fit needs, the derivative is zero.

    Parameters
    ----------
    frames : numpy.ndarray
        Shape ``(n_rows, n_frames)``, e.g. MFCC.
    order : int
        1 for the first derivative, 2 for the second.
    width : int
        Frames in the fit, odd.

    Returns
    -------
    numpy.ndarray
        Same shape as ``frames``, float64.
    """
    frames = np.asarray(frames, dtype=np.float64)
    available = frames.shape[1] if frames.shape[1] % 2 else frames.shape[1] - 1
    width = min(width, available)
    if width <= order:
        return np.zeros_like(frames)
    half = width // 2
    inner = np.lib.stride_tricks.sliding_window_view(frames, width, axis=1) @ _savgol_weights(width, order)
    # Near the ends the fitted polynomial is that of the first (last) full window; its order-th
    # derivative is a constant, so the edge frames repeat the nearest inner value (scipy's "interp").
    return np.concatenate(
        [np.repeat(inner[:, :1], half, axis=1), inner, np.repeat(inner[:, -1:], half, axis=1)], axis=1
    )


@lru_cache(maxsize=16)
def _savgol_weights(width: int, order: int) -> np.ndarray:
    """Weights giving, from ``width`` samples, the ``order``-th derivative at the centre of their
    least-squares polynomial of degree ``order`` (Savitzky-Golay; without importing scipy.signal,
    a third of a second of start-up in every worker)."""
    offsets = np.arange(width) - width // 2
    return np.linalg.pinv(np.vander(offsets, order + 1, increasing=True))[order] * math.factorial(order)


@dataclass(frozen=True)
class Pitch:
    """Per-frame output of :func:`yin`.

    Attributes
    ----------
    f0 : numpy.ndarray
        Hz, shape ``(n_frames,)``; meaningful where ``voiced``.
    aperiodicity : numpy.ndarray
        The chosen dip of the normalised difference, shape ``(n_frames,)``: 0 periodic, about 1 noise or silence.
    voiced : numpy.ndarray
        bool, shape ``(n_frames,)``.
    """

    f0: np.ndarray
    aperiodicity: np.ndarray
    voiced: np.ndarray


def yin(
    samples: np.ndarray,
    *,
    sample_rate: int,
    frame_length: int,
    hop_length: int,
    fmin: float = F0_MIN,
    fmax: float = F0_MAX,
) -> Pitch:
    """Fundamental frequency per frame by YIN (de Cheveigne & Kawahara, JASA 111(4), 2002).

    For each centred frame ``x`` of ``frame_length`` samples and each lag ``tau`` up to
    the longest period ``T = sample_rate / fmin``, the difference
    ``d(tau) = sum_{j<W} (x[j] - x[j + tau])**2`` over ``W = frame_length - T`` samples is
    computed from energies and one FFT cross-correlation; it is normalised by its running
    mean, ``d'(tau) = d(tau) tau / sum_{k<=tau} d(k)``. The period is the first local
    minimum of ``d'`` below :data:`YIN_THRESHOLD` within ``[sample_rate / fmax, T]``
    (the global minimum there if none is), refined by parabolic interpolation. A frame is
    voiced when that dip is below :data:`VOICING_THRESHOLD` and its energy is within
    :data:`SILENCE_DB` of the loudest frame's.

    Parameters
    ----------
    samples : numpy.ndarray
        Mono samples, shape ``(n_samples,)``.
    sample_rate : int
        Their rate in Hz.
    frame_length, hop_length : int
        Frame size and step, in samples; periods longer than half a frame are not searched.
    fmin, fmax : float
        The range of fundamental frequencies searched, in Hz.

    Returns
    -------
    Pitch
        One value per centred frame, ``1 + n_samples // hop_length`` of them.

    Raises
    ------
    ValueError
        Half a frame leaves no room for a period between ``1 / fmax`` and ``1 / fmin``.
    """
    frames = frame_signal(np.asarray(samples, dtype=np.float64), frame_length=frame_length, hop_length=hop_length)
    longest = min(int(np.ceil(sample_rate / fmin)), frame_length // 2)
    shortest = max(int(np.floor(sample_rate / fmax)), 2)
    if shortest + 1 >= longest:
        raise ValueError(f"frames of {frame_length} samples at {sample_rate} Hz are too short for pitch from {fmin} Hz")
    window = frame_length - longest
    spectrum = scipy.fft.rfft(frames, n=frame_length, axis=1)
    head = scipy.fft.rfft(frames[:, :window], n=frame_length, axis=1)
    correlation = scipy.fft.irfft(np.conj(head) * spectrum, n=frame_length, axis=1)[:, : longest + 1]
    energy = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(longest + 1)
    shifted = energy[:, lags + window] - energy[:, lags]
    difference = np.maximum(energy[:, [window]] + shifted - 2.0 * correlation, 0.0)
    difference[:, 0] = 0.0
    running = np.cumsum(difference[:, 1:], axis=1)
    normalised = np.ones_like(difference)
    normalised[:, 1:] = np.where(running > 0, difference[:, 1:] * lags[1:] / np.where(running > 0, running, 1.0), 1.0)

    search = normalised[:, shortest : longest + 1]
    inner = search[:, 1:-1]
    dips = (inner < search[:, :-2]) & (inner <= search[:, 2:]) & (inner < YIN_THRESHOLD)
    first = np.argmax(dips, axis=1) + 1
    best = np.where(dips.any(axis=1), first, np.argmin(search, axis=1))
    rows = np.arange(len(frames))
    period = (best + shortest).astype(np.float64)
    interior = (best > 0) & (best < search.shape[1] - 1)
    left = search[rows, np.maximum(best - 1, 0)]
    centre = search[rows, best]
    right = search[rows, np.minimum(best + 1, search.shape[1] - 1)]
    curvature = left - 2.0 * centre + right
    shift = np.where(interior & (curvature > 0), 0.5 * (left - right) / np.where(curvature > 0, curvature, 1.0), 0.0)
    period += np.clip(shift, -1.0, 1.0)

    frame_energy = energy[:, window]
    peak = frame_energy.max()
    loud = frame_energy > peak * 10.0 ** (-SILENCE_DB / 10.0) if peak > 0 else np.zeros(len(frames), bool)
    voiced = (centre < VOICING_THRESHOLD) & loud
    return Pitch(f0=sample_rate / period, aperiodicity=np.clip(centre, 0.0, 1.0), voiced=voiced)


def semitones(f0: np.ndarray, *, reference: float = 27.5) -> np.ndarray:
    """Frequency in semitones above ``reference`` Hz (27.5 Hz, A0, as eGeMAPS)."""
    return 12.0 * np.log2(np.asarray(f0) / reference)
