"""The feature extractor: mono samples in, one named feature vector out.

The extractor takes one power spectrogram per file, on first use, and hands it to every selected family
(:mod:`ser.features.families`), so MFCC, chroma and mel, which librosa computes each from an STFT of its own,
share one, and the whisper family alone takes none; its window and filter banks are built once per process. It
then takes each statistic (:mod:`ser.features.stats`) over each family's frames.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ser.config import FeatureParams
from ser.dsp.filters import BlockedBank, dct_matrix, mel_filter_bank
from ser.dsp.frames import periodic_hann, power_spectrogram
from ser.features.families import FAMILIES, Representations, feature_names
from ser.features.stats import STATS

NOT_FINITE = "gives features that are not finite (NaN or infinite)"  # a file's failure: no model takes such a row


class FeatureExtractor:
    """Turn mono samples into one named feature vector.

    Parameters
    ----------
    params : ser.config.FeatureParams
        The ``features`` section of ``params.yaml`` (or of a bundle's ``model.json``): the families, the
        statistics and the STFT framing.
    sample_rate : int
        The rate in Hz of the samples it will be given.

    Attributes
    ----------
    names : list of str
        The column name of each value of the vector, in order (:func:`ser.features.families.feature_names`).

    Examples
    --------
    >>> from ser.config import FeatureParams
    >>> extractor = FeatureExtractor(FeatureParams(families=("mfcc",), stats=("mean",)), 16000)
    >>> extractor(np.zeros(16000, dtype=np.float32)).shape
    (40,)
    """

    def __init__(self, params: FeatureParams, sample_rate: int):
        self.params = params
        self.sample_rate = sample_rate
        self.names = feature_names(params)

    @cached_property
    def window(self) -> np.ndarray:
        """The STFT's periodic Hann window (this and the banks are built on first use: whisper needs none)."""
        return periodic_hann(self.params.n_fft)

    @cached_property
    def mel_bank(self) -> BlockedBank:
        """The mel filter bank, applied band block by band block (:class:`ser.dsp.filters.BlockedBank`)."""
        return BlockedBank(mel_filter_bank(self.sample_rate, self.params.n_fft, self.params.n_mels))

    @cached_property
    def dct(self) -> np.ndarray:
        """The DCT that turns log-mel bands into MFCC."""
        return dct_matrix(self.params.n_mfcc, self.params.n_mels)

    def power_spectrogram(self, samples: np.ndarray) -> np.ndarray:
        """The power spectrogram every family shares: ``|STFT|**2`` with librosa's default framing.

        Parameters
        ----------
        samples : numpy.ndarray
            Mono samples, shape ``(n_samples,)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(1 + n_fft // 2, 1 + n_samples // hop_length)``, float32: centred frames, zero-padded at
            both ends, periodic Hann window.
        """
        return power_spectrogram(
            samples.astype(np.float32, copy=False), window=self.window, hop_length=self.params.hop_length
        )

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The feature vector of one file's samples.

        Parameters
        ----------
        samples : numpy.ndarray
            Mono samples at :attr:`sample_rate`, shape ``(n_samples,)``, float32 or float64 in [-1, 1].

        Returns
        -------
        numpy.ndarray
            Shape ``(len(names),)``, float64, in the order of :attr:`names`.
        """
        shared = Representations(samples, self, self.params, self.sample_rate)
        values = []
        for family in self.params.families:
            frames = FAMILIES[family].frames(shared)
            if FAMILIES[family].names is not None:
                values.append(frames)
                continue
            stats = FAMILIES[family].stats(self.params)
            values.extend(
                STATS[stat](part) for part in (frames if FAMILIES[family].parts else [frames]) for stat in stats
            )
        return np.concatenate(values).astype(np.float64)
