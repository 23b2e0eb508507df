"""Feature families: what each selected family computes from one file's shared representations.

A family is a function from a :class:`Representations` (one file's samples, its power
spectrogram and what is derived from it once: mel power, log-mel, MFCC, YIN pitch) to a
matrix of per-frame values, one row per coefficient. Every selected statistic
(``features.stats``, :mod:`ser.features.stats`) is taken over its frames, giving columns
named ``{family}_{stat}_{index}``. Adding a family means registering one such function in
:data:`FAMILIES` (and its name in ``ser.names.FEATURE_FAMILIES``): it gets the shared
spectrogram for free.

The ``mfcc``, ``chroma`` and ``mel`` families are 40 MFCC, 12 chroma and 128 mel-power
bands per frame; their values equal those of ``librosa.feature.mfcc``, ``chroma_stft`` and
``melspectrogram`` on the same samples (the tests hold it to that), though librosa is not
imported. Beyond them: MFCC deltas, spectral shape, zero-crossing rate, RMS energy and
pitch (:mod:`ser.features.descriptors`). Two families are *functional sets* instead:
openSMILE's eGeMAPS and ComParE (:mod:`ser.features.smile`) give one vector per file whose
columns are named ``{family}_{openSMILE name}``; the statistics do not apply to them. The
``whisper`` family takes its frames from Whisper's encoder (:mod:`ser.features.whisper`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ser.config import FeatureParams
from ser.dsp.filters import power_to_db
from ser.features import descriptors, smile, whisper
from ser.features.descriptors import Pitch, yin

if TYPE_CHECKING:
    from ser.features.extractor import FeatureExtractor


@dataclass
class Representations:
    """One file's samples, and what families derive from them once, on first use: its power spectrogram, mel
    power, log-mel, MFCC, pitch. A family that needs none of them (whisper) costs no STFT."""

    samples: np.ndarray
    extractor: FeatureExtractor  # its window and filter banks, built once per process
    params: FeatureParams
    sample_rate: int

    @cached_property
    def power(self) -> np.ndarray:
        """The power spectrogram every spectral family shares
        (:meth:`ser.features.extractor.FeatureExtractor.power_spectrogram`)."""
        return self.extractor.power_spectrogram(self.samples)

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
        return yin(
            self.samples,
            sample_rate=self.sample_rate,
            frame_length=self.params.n_fft,
            hop_length=self.params.hop_length,
        )


@dataclass(frozen=True)
class Family:
    """A feature family: its per-frame values and how many rows they have under given params.

    A family in ``parts`` (the encoder's layers) gives one matrix of frames per part, each summarised on its own.
    """

    frames: Callable[[Representations], np.ndarray | list[np.ndarray]]
    size: Callable[[FeatureParams], int]
    names: Callable[[FeatureParams], list[str]] | None = None  # set for a functional set: frames gives the vector
    stats: Callable[[FeatureParams], tuple[str, ...]] = lambda params: params.stats  # taken over its frames
    parts: Callable[[FeatureParams], list[str]] | None = None  # set when frames gives one matrix per part


def feature_names(params: FeatureParams) -> list[str]:
    """The column name of every feature ``params`` selects, in the order the extractor fills them.

    Parameters
    ----------
    params : ser.config.FeatureParams
        The selected families and statistics, and the sizes (``n_mfcc``, ``n_chroma``, ``n_mels``) they use.

    Returns
    -------
    list of str
        ``{family}_{stat}_{index}`` (``{family}_{part}_{stat}_{index}`` for a family in parts, such as the
        encoder's layers; ``{family}_{name}`` for an openSMILE set), e.g. ``mfcc_mean_00``.
    """
    names = []
    for family in params.families:
        if FAMILIES[family].names is not None:
            names.extend(f"{family}_{name}" for name in FAMILIES[family].names(params))
            continue
        size = FAMILIES[family].size(params)
        width = max(2, len(str(size - 1)))
        prefixes = (
            [f"{family}_{part}" for part in FAMILIES[family].parts(params)] if FAMILIES[family].parts else [family]
        )
        names.extend(
            f"{prefix}_{stat}_{i:0{width}d}"
            for prefix in prefixes
            for stat in FAMILIES[family].stats(params)
            for i in range(size)
        )
    return names


def _chroma(shared: Representations) -> np.ndarray:
    params = shared.params
    return descriptors.chromagram(
        shared.power, sample_rate=shared.sample_rate, n_fft=params.n_fft, n_chroma=params.n_chroma
    )


def _shape(shared: Representations) -> dict:
    """Keywords that spectral-shape descriptors take besides the power spectrogram."""
    return {"sample_rate": shared.sample_rate, "n_fft": shared.params.n_fft}


def _zcr(shared: Representations) -> np.ndarray:
    params = shared.params
    return descriptors.zero_crossing_rate(shared.samples, frame_length=params.n_fft, hop_length=params.hop_length)


def _f0(shared: Representations) -> np.ndarray:
    """Pitch in semitones above 27.5 Hz over voiced frames only (one frame of 0 if none is voiced)."""
    pitch = shared.pitch
    if not pitch.voiced.any():
        return np.zeros((1, 1))
    return descriptors.semitones(pitch.f0[pitch.voiced])[np.newaxis]


def _voicing(shared: Representations) -> np.ndarray:
    """Two rows over all frames: periodicity (1 - YIN aperiodicity) and the voiced flag (its mean: the voiced share)."""
    pitch = shared.pitch
    return np.vstack([1.0 - pitch.aperiodicity, pitch.voiced.astype(np.float64)])


def _balance(shared: Representations) -> np.ndarray:
    """Spectral balance over the frames within 40 dB of the loudest (pauses have no meaningful tilt)."""
    params = shared.params
    active = descriptors.active_frames(shared.power, n_fft=params.n_fft)
    return descriptors.spectral_balance(shared.power[:, active], sample_rate=shared.sample_rate, n_fft=params.n_fft)


def _functional_set(name: str) -> Family:
    names = lambda params: smile.feature_names(name)  # noqa: E731
    return Family(
        frames=lambda shared: smile.functionals(name, shared.samples, shared.sample_rate),
        size=lambda params: len(names(params)),
        names=names,
    )


CONTRAST_BANDS = 6  # octave bands above 200 Hz, plus the one below: 7 rows

FAMILIES: dict[str, Family] = {
    "mfcc": Family(lambda shared: shared.mfcc, lambda params: params.n_mfcc),
    "chroma": Family(_chroma, lambda params: params.n_chroma),
    "mel": Family(lambda shared: shared.mel, lambda params: params.n_mels),
    "mfcc_delta": Family(lambda shared: descriptors.delta(shared.mfcc, order=1), lambda params: params.n_mfcc),
    "mfcc_delta2": Family(lambda shared: descriptors.delta(shared.mfcc, order=2), lambda params: params.n_mfcc),
    "contrast": Family(
        lambda shared: descriptors.spectral_contrast(shared.power, n_bands=CONTRAST_BANDS, **_shape(shared)),
        lambda params: CONTRAST_BANDS + 1,
    ),
    "flatness": Family(lambda shared: descriptors.spectral_flatness(shared.power), lambda params: 1),
    "rolloff": Family(lambda shared: descriptors.spectral_rolloff(shared.power, **_shape(shared)), lambda params: 1),
    "centroid": Family(lambda shared: descriptors.spectral_centroid(shared.power, **_shape(shared)), lambda params: 1),
    "rms": Family(lambda shared: descriptors.rms_energy(shared.power, n_fft=shared.params.n_fft), lambda params: 1),
    "zcr": Family(_zcr, lambda params: 1),
    "logmel": Family(lambda shared: shared.log_mel, lambda params: params.n_mels),
    "loudness": Family(lambda shared: descriptors.level_db(shared.power, n_fft=shared.params.n_fft), lambda params: 1),
    "balance": Family(_balance, lambda params: 4),
    "f0": Family(_f0, lambda params: 1),
    "voicing": Family(_voicing, lambda params: 2),
    "egemaps": _functional_set("egemaps"),
    "compare": _functional_set("compare"),
    "whisper": Family(
        lambda shared: whisper.encoder(shared.params.whisper).frames(shared.samples),
        lambda params: whisper.encoder(params.whisper).width,
        stats=lambda params: params.whisper.stats,
        parts=lambda params: [f"layer{layer}" for layer in whisper.encoder(params.whisper).layers],
    ),
}
