"""The feature extractor: mono samples in, one named feature vector out.

Unlike the notebook, which let each librosa call take its own STFT, the extractor takes
one power spectrogram per file and hands it to every selected family
(:mod:`ser.features.families`), with its window and filter banks built once per process,
then takes each statistic (:mod:`ser.features.stats`) over each family's frames.
"""
from __future__ import annotations

import numpy as np

from ser.config import FeatureParams
from ser.dsp.filters import BlockedBank, dct_matrix, mel_filter_bank
from ser.dsp.frames import periodic_hann, power_spectrogram
from ser.features.families import FAMILIES, Representations, feature_names
from ser.features.stats import STATS

NOT_FINITE = "gives features that are not finite (NaN or infinite)"  # a file's failure: no model takes such a row


class FeatureExtractor:
    """Turn mono samples into one named feature vector."""

    def __init__(self, params: FeatureParams, sample_rate: int):
        self.params = params
        self.sample_rate = sample_rate
        self.window = periodic_hann(params.n_fft)
        self.mel_basis = mel_filter_bank(sample_rate, params.n_fft, params.n_mels)
        self.mel_bank = BlockedBank(self.mel_basis)
        self.dct = dct_matrix(params.n_mfcc, params.n_mels)
        self.names = feature_names(params)

    def power_spectrogram(self, samples: np.ndarray) -> np.ndarray:
        """|STFT|^2 with the notebook's framing: centred, zero-padded, periodic Hann, float32."""
        return power_spectrogram(samples.astype(np.float32, copy=False), window=self.window,
                                 hop_length=self.params.hop_length)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The feature vector of ``samples``, in the order of :attr:`names`."""
        shared = Representations(samples, self.power_spectrogram(samples), self.params, self.sample_rate,
                                 self.mel_bank, self.dct)
        values = []
        for family in self.params.families:
            frames = FAMILIES[family].frames(shared)
            if FAMILIES[family].names is not None:
                values.append(frames)
                continue
            stats = FAMILIES[family].stats(self.params)
            values.extend(STATS[stat](part) for part in (frames if FAMILIES[family].parts else [frames]) for stat in stats)
        return np.concatenate(values).astype(np.float64)
