"""Per-file acoustic features from one shared short-time Fourier transform.

The default vector is the notebook's 180 numbers: time-means of 40 MFCC, 12
chroma and 128 mel-power bands. Unlike the notebook, which let each librosa call
take its own STFT, :class:`FeatureExtractor` takes one power spectrogram per file
(an :class:`Analysis`) and derives every feature family from it, with its window
and filter banks (:mod:`ser.filters`) built once per process. The values equal
those of ``librosa.feature.mfcc``, ``chroma_stft`` and ``melspectrogram`` on the
same samples (the tests hold it to that), but librosa is not imported: the stage
and ``ser predict`` start in a fraction of a second.

A feature family is a function from an :class:`Analysis` to a matrix of
per-frame values (one row per coefficient); every selected statistic
(``features.stats``) is taken over its frames, giving columns named
``{family}_{stat}_{index}``. Adding a family means registering one such function
in :data:`FAMILIES` (and its name in ``ser.config.FEATURE_FAMILIES``): it gets
the shared spectrogram for free.

Beyond the notebook's three, families cover MFCC deltas, spectral shape (contrast,
flatness, roll-off, centroid), zero-crossing rate, RMS energy and YIN pitch (see
:mod:`ser.descriptors`), and statistics beyond the mean (spread, extremes,
percentiles, shape, slope). Two families are *functional sets* instead: openSMILE's
eGeMAPS and ComParE (:mod:`ser.smile`) give one vector per file whose columns are
named ``{family}_{openSMILE name}``; the statistics do not apply to them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable

import numpy as np
import scipy.fft

from ser import descriptors, smile, whisper
from ser.config import FeatureParams
from ser.descriptors import Pitch, yin
from ser.filters import BlockedBank, chroma_filter_bank, dct_matrix, fft_frequencies, mel_filter_bank, power_to_db

TUNING_FMIN, TUNING_FMAX = 150.0, 4000.0  # librosa.piptrack's default search band


@dataclass
class Analysis:
    """One file's samples and the spectral representations its families share."""

    samples: np.ndarray
    extractor: "FeatureExtractor"
    power: np.ndarray = field(init=False)

    def __post_init__(self):
        self.power = self.extractor.power_spectrogram(self.samples)

    @cached_property
    def mel(self) -> np.ndarray:
        """Mel-band power, as ``librosa.feature.melspectrogram``."""
        return self.extractor.mel_bank @ self.power

    @cached_property
    def log_mel(self) -> np.ndarray:
        """Mel power in dB, as ``librosa.power_to_db`` (ref 1, 80 dB floor below the peak)."""
        return power_to_db(self.mel)

    @cached_property
    def mfcc(self) -> np.ndarray:
        """MFCC as ``librosa.feature.mfcc``: type-II orthonormal DCT of the log-mel (shared with the deltas)."""
        return self.extractor.dct @ self.log_mel

    @cached_property
    def pitch(self) -> Pitch:
        """YIN pitch per STFT frame, shared by the ``f0`` and ``voicing`` families."""
        params = self.extractor.params
        return yin(self.samples, sample_rate=self.extractor.sample_rate, frame_length=params.n_fft,
                   hop_length=params.hop_length)


def _chroma(analysis: Analysis) -> np.ndarray:
    """Chromagram as ``librosa.feature.chroma_stft``, with its per-file tuning estimate."""
    extractor = analysis.extractor
    tuning = estimate_tuning(analysis.power, extractor.sample_rate, extractor.params.n_fft, extractor.params.n_chroma)
    basis = _chroma_basis(extractor.sample_rate, extractor.params.n_fft, extractor.params.n_chroma, tuning)
    raw = basis @ analysis.power
    peak = np.abs(raw).max(axis=0, keepdims=True)
    return raw / np.where(peak < np.finfo(raw.dtype).tiny, 1.0, peak)


@dataclass(frozen=True)
class Family:
    """A feature family: its per-frame values and how many rows they have under given params."""

    frames: Callable[[Analysis], np.ndarray]
    size: Callable[[FeatureParams], int]
    names: Callable[[FeatureParams], list[str]] | None = None  # set for a functional set: frames gives the vector
    stats: Callable[[FeatureParams], tuple[str, ...]] = lambda params: params.stats  # taken over its frames


FAMILIES: dict[str, Family] = {
    "mfcc": Family(lambda analysis: analysis.mfcc, lambda params: params.n_mfcc),
    "chroma": Family(_chroma, lambda params: params.n_chroma),
    "mel": Family(lambda analysis: analysis.mel, lambda params: params.n_mels),
}
STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"mean": lambda frames: frames.mean(axis=1)}


def feature_names(params: FeatureParams) -> list[str]:
    """Column names ``{family}_{stat}_{index}``, in the order the extractor fills them."""
    names = []
    for family in params.families:
        if FAMILIES[family].names is not None:
            names.extend(f"{family}_{name}" for name in FAMILIES[family].names(params))
            continue
        size = FAMILIES[family].size(params)
        width = max(2, len(str(size - 1)))
        names.extend(f"{family}_{stat}_{i:0{width}d}" for stat in FAMILIES[family].stats(params) for i in range(size))
    return names


class FeatureExtractor:
    """Turn mono samples into one named feature vector."""

    def __init__(self, params: FeatureParams, sample_rate: int):
        self.params = params
        self.sample_rate = sample_rate
        self.window = np.hanning(params.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa
        self.mel_basis = mel_filter_bank(sample_rate, params.n_fft, params.n_mels)
        self.mel_bank = BlockedBank(self.mel_basis)
        self.dct = dct_matrix(params.n_mfcc, params.n_mels)
        self.names = feature_names(params)

    def power_spectrogram(self, samples: np.ndarray) -> np.ndarray:
        """|STFT|^2 with the notebook's framing: centred, zero-padded, periodic Hann, float32."""
        frames = descriptors.frame_signal(samples.astype(np.float32, copy=False), frame_length=self.params.n_fft,
                                          hop_length=self.params.hop_length)
        spectrum = scipy.fft.rfft(frames * self.window, axis=1, workers=1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        return np.ascontiguousarray(power.T)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The feature vector of ``samples``, in the order of :attr:`names`."""
        analysis = Analysis(samples, self)
        parts = []
        for family in self.params.families:
            frames = FAMILIES[family].frames(analysis)
            if FAMILIES[family].names is not None:
                parts.append(frames)
                continue
            parts.extend(STATS[stat](frames) for stat in FAMILIES[family].stats(self.params))
        return np.concatenate(parts).astype(np.float64)


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
    rows_around = power[low - 1: high + 1]  # the band and one bin either side
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


# ---- Families and statistics beyond the notebook's -------------------------------------------

def _shape(analysis: Analysis) -> dict:
    """Keywords that spectral-shape descriptors take besides the power spectrogram."""
    return {"sample_rate": analysis.extractor.sample_rate, "n_fft": analysis.extractor.params.n_fft}


def _zcr(analysis: Analysis) -> np.ndarray:
    params = analysis.extractor.params
    return descriptors.zero_crossing_rate(analysis.samples, frame_length=params.n_fft, hop_length=params.hop_length)


def _f0(analysis: Analysis) -> np.ndarray:
    """Pitch in semitones above 27.5 Hz over voiced frames only (one frame of 0 if none is voiced)."""
    pitch = analysis.pitch
    if not pitch.voiced.any():
        return np.zeros((1, 1))
    return descriptors.semitones(pitch.f0[pitch.voiced])[np.newaxis]


def _voicing(analysis: Analysis) -> np.ndarray:
    """Two rows over all frames: periodicity (1 - YIN aperiodicity) and the voiced flag (its mean is the voiced share)."""
    pitch = analysis.pitch
    return np.vstack([1.0 - pitch.aperiodicity, pitch.voiced.astype(np.float64)])


def _balance(analysis: Analysis) -> np.ndarray:
    """Spectral balance over the frames within 40 dB of the loudest (pauses have no meaningful tilt)."""
    params = analysis.extractor.params
    active = descriptors.active_frames(analysis.power, n_fft=params.n_fft)
    return descriptors.spectral_balance(analysis.power[:, active], sample_rate=analysis.extractor.sample_rate,
                                        n_fft=params.n_fft)


def _functional_set(name: str) -> Family:
    names = lambda params: smile.feature_names(name)  # noqa: E731
    return Family(frames=lambda analysis: smile.functionals(name, analysis.samples, analysis.extractor.sample_rate),
                  size=lambda params: len(names(params)), names=names)


CONTRAST_BANDS = 6  # octave bands above 200 Hz, plus the one below: 7 rows

FAMILIES.update({
    "mfcc_delta": Family(lambda analysis: descriptors.delta(analysis.mfcc, order=1), lambda params: params.n_mfcc),
    "mfcc_delta2": Family(lambda analysis: descriptors.delta(analysis.mfcc, order=2), lambda params: params.n_mfcc),
    "contrast": Family(lambda analysis: descriptors.spectral_contrast(analysis.power, n_bands=CONTRAST_BANDS,
                                                                      **_shape(analysis)),
                       lambda params: CONTRAST_BANDS + 1),
    "flatness": Family(lambda analysis: descriptors.spectral_flatness(analysis.power), lambda params: 1),
    "rolloff": Family(lambda analysis: descriptors.spectral_rolloff(analysis.power, **_shape(analysis)), lambda params: 1),
    "centroid": Family(lambda analysis: descriptors.spectral_centroid(analysis.power, **_shape(analysis)), lambda params: 1),
    "rms": Family(lambda analysis: descriptors.rms_energy(analysis.power, n_fft=analysis.extractor.params.n_fft),
                  lambda params: 1),
    "zcr": Family(_zcr, lambda params: 1),
    "logmel": Family(lambda analysis: analysis.log_mel, lambda params: params.n_mels),
    "loudness": Family(lambda analysis: descriptors.level_db(analysis.power, n_fft=analysis.extractor.params.n_fft),
                       lambda params: 1),
    "balance": Family(_balance, lambda params: 4),
    "f0": Family(_f0, lambda params: 1),
    "voicing": Family(_voicing, lambda params: 2),
    "egemaps": _functional_set("egemaps"),
    "compare": _functional_set("compare"),
    "whisper": Family(lambda analysis: whisper.encoder(analysis.extractor.params.whisper).frames(analysis.samples),
                      lambda params: whisper.encoder(params.whisper).width, stats=lambda params: params.whisper.stats),
})


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
    denominator = (index ** 2).sum()
    return frames @ index / denominator if denominator > 0 else np.zeros(frames.shape[0])


STATS.update({
    "std": _std,
    "min": lambda frames: _as64(frames).min(axis=1),
    "max": lambda frames: _as64(frames).max(axis=1),
    "median": lambda frames: np.median(_as64(frames), axis=1),
    "p10": lambda frames: np.percentile(_as64(frames), 10, axis=1),
    "p90": lambda frames: np.percentile(_as64(frames), 90, axis=1),
    "skew": lambda frames: _standardised_moment(frames, 3),
    "kurtosis": lambda frames: _standardised_moment(frames, 4),
    "slope": _slope,
})
