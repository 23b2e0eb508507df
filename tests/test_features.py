"""The one-STFT extractor against the notebook's own per-file librosa calls, on speech."""

from dataclasses import replace

import librosa
import numpy as np
import pytest
import soundfile as sf

from ser.corpus.audio import load_audio
from ser.features.descriptors import estimate_tuning
from ser.features.extractor import FeatureExtractor
from tests.audiofiles import spread_files
from tests.featuresets import NOTEBOOK_FEATURES


def notebook_features(path) -> np.ndarray:
    """What the notebook computes: three librosa calls, each with its own STFT, time-averaged."""
    samples, sample_rate = sf.read(path, dtype="float32")
    mfcc = np.mean(librosa.feature.mfcc(y=samples, sr=sample_rate, n_mfcc=40).T, axis=0)
    chroma = np.mean(librosa.feature.chroma_stft(y=samples, sr=sample_rate).T, axis=0)
    mel = np.mean(librosa.feature.melspectrogram(y=samples, sr=sample_rate).T, axis=0)
    return np.hstack([mfcc, chroma, mel])


def test_feature_vector_equals_the_notebooks_on_speech(speech16k):
    extractor = FeatureExtractor(NOTEBOOK_FEATURES, 16000)
    assert len(extractor.names) == 180
    families = {"mfcc": slice(0, 40), "chroma": slice(40, 52), "mel": slice(52, 180)}
    for path in spread_files(speech16k, 24):
        ours, reference = extractor(load_audio(path, 16000)), notebook_features(path)
        for family, columns in families.items():
            # float32 rounding: relative to each value, and to the family's scale for values near zero
            scale = np.abs(reference[columns]).max()
            np.testing.assert_allclose(
                ours[columns], reference[columns], rtol=1e-4, atol=1e-7 * scale, err_msg=f"{family} of {path}"
            )


def test_feature_names_follow_the_params():
    extractor = FeatureExtractor(replace(NOTEBOOK_FEATURES, n_mfcc=13, n_chroma=24, n_mels=64), 16000)
    assert extractor.names[0] == "mfcc_mean_00" and extractor.names[13] == "chroma_mean_00"
    assert extractor.names[-1] == "mel_mean_63"
    assert len(extractor.names) == 13 + 24 + 64
    rng = np.random.default_rng(0)
    assert extractor(rng.standard_normal(16000).astype(np.float32) * 0.1).shape == (101,)


def test_tuning_estimate_equals_librosas(speech16k):
    extractor = FeatureExtractor(NOTEBOOK_FEATURES, 16000)
    for path in spread_files(speech16k, 60):
        power = extractor.power_spectrogram(load_audio(path, 16000))
        assert estimate_tuning(power, 16000, 2048, 12) == librosa.estimate_tuning(
            S=power, sr=16000, n_fft=2048, bins_per_octave=12
        ), path


def test_tuning_estimate_finds_a_detuned_tone():
    times = np.arange(32000) / 16000
    tone = sum(np.sin(2 * np.pi * 440 * k * 2 ** (0.3 / 12) * times) / k for k in (1, 2, 3)).astype(np.float32)
    power = FeatureExtractor(NOTEBOOK_FEATURES, 16000).power_spectrogram(tone)
    estimate = estimate_tuning(power, 16000, 2048, 12)
    assert estimate == librosa.estimate_tuning(S=power, sr=16000, n_fft=2048, bins_per_octave=12)
    assert estimate == pytest.approx(0.3, abs=0.05)  # peak picking on power is biased a little, as in librosa
