"""Per-file acoustic features from one shared short-time Fourier transform.

The default vector is the notebook's 180 numbers: time-means of 40 MFCC, 12
chroma and 128 mel-power bands. Unlike the notebook, which let each librosa call
take its own STFT, :class:`FeatureExtractor` takes one power spectrogram per file
and derives every family from it, with its window and filter banks built once.
The values equal those of ``librosa.feature.mfcc``, ``chroma_stft`` and
``melspectrogram`` on the same samples (the tests hold it to that).
"""
from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import scipy.fft
import scipy.signal

from ser.config import FeatureParams


class FeatureExtractor:
    """Turn mono samples into one named feature vector."""

    def __init__(self, params: FeatureParams, sample_rate: int):
        self.params = params
        self.sample_rate = sample_rate
        self.window = scipy.signal.get_window("hann", params.n_fft, fftbins=True)
        self.mel_basis = librosa.filters.mel(sr=sample_rate, n_fft=params.n_fft, n_mels=params.n_mels)
        self.names = (
            [f"mfcc_mean_{i:02d}" for i in range(params.n_mfcc)]
            + [f"chroma_mean_{i:02d}" for i in range(params.n_chroma)]
            + [f"mel_mean_{i:03d}" for i in range(params.n_mels)]
        )

    def power_spectrogram(self, samples: np.ndarray) -> np.ndarray:
        """|STFT|^2 with the notebook's framing (centred, zero-padded, Hann)."""
        spectrum = librosa.stft(
            samples, n_fft=self.params.n_fft, hop_length=self.params.hop_length,
            window=self.window, center=True, pad_mode="constant",
        )
        return np.abs(spectrum) ** 2

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The feature vector of ``samples``, in the order of :attr:`names`."""
        power = self.power_spectrogram(samples)
        mel = self.mel_basis @ power
        log_mel = librosa.power_to_db(mel)
        mfcc = scipy.fft.dct(log_mel, axis=0, type=2, norm="ortho")[: self.params.n_mfcc]
        chroma = self.chroma(power)
        return np.concatenate([mfcc.mean(axis=1), chroma.mean(axis=1), mel.mean(axis=1)]).astype(np.float64)

    def chroma(self, power: np.ndarray) -> np.ndarray:
        """Chromagram as ``librosa.feature.chroma_stft`` computes it, tuning estimated per file."""
        tuning = librosa.estimate_tuning(
            S=power, sr=self.sample_rate, n_fft=self.params.n_fft, bins_per_octave=self.params.n_chroma
        )
        raw = _chroma_basis(self.sample_rate, self.params.n_fft, self.params.n_chroma, float(tuning)) @ power
        return librosa.util.normalize(raw, norm=np.inf, axis=0)


@lru_cache(maxsize=256)
def _chroma_basis(sample_rate: int, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    """Chroma filter bank; tuning takes few distinct values, so banks are reused."""
    return librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma)
