"""Our filter banks and scales against librosa's, over the configurations users pick."""

import librosa
import numpy as np
import pytest
import scipy.fft

from ser.dsp.filters import (
    BlockedBank,
    chroma_filter_bank,
    dct_matrix,
    hz_to_mel,
    mel_filter_bank,
    mel_to_hz,
    power_to_db,
)


@pytest.mark.parametrize(
    "sample_rate,n_fft,n_mels",
    [(16000, 2048, 128), (22050, 2048, 128), (16000, 512, 40), (48000, 4096, 64), (8000, 256, 26)],
)
def test_mel_filter_bank_equals_librosas(sample_rate, n_fft, n_mels):
    ours = mel_filter_bank(sample_rate, n_fft, n_mels)
    theirs = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


def test_mel_scale_is_linear_then_logarithmic_and_invertible():
    hz = np.array([0.0, 200.0, 999.0, 1000.0, 6400.0, 8000.0])
    np.testing.assert_allclose(hz_to_mel(hz), librosa.hz_to_mel(hz))
    np.testing.assert_allclose(hz_to_mel([200.0, 1000.0, 6400.0]), [3.0, 15.0, 42.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, atol=1e-9)


@pytest.mark.parametrize(
    "sample_rate,n_fft,n_chroma", [(16000, 2048, 12), (22050, 4096, 12), (16000, 2048, 24), (48000, 1024, 36)]
)
@pytest.mark.parametrize("tuning", [0.0, -0.37, 0.21, 0.49])
def test_chroma_filter_bank_equals_librosas(sample_rate, n_fft, n_chroma, tuning):
    ours = chroma_filter_bank(sample_rate, n_fft, n_chroma, tuning)
    theirs = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


def test_dct_matrix_is_the_orthonormal_dct_ii():
    x = np.random.default_rng(1).standard_normal((128, 7))
    np.testing.assert_allclose(
        dct_matrix(40, 128) @ x, scipy.fft.dct(x, axis=0, norm="ortho")[:40], rtol=1e-5, atol=1e-5
    )
    full = dct_matrix(16, 16).astype(np.float64)
    np.testing.assert_allclose(full @ full.T, np.eye(16), atol=1e-6)


def test_power_to_db_equals_librosas_with_its_floors():
    power = (np.random.default_rng(2).random((64, 50)) ** 8).astype(np.float32)
    power[0, 0], power[1, 1] = 0.0, 1e3
    ours = power_to_db(power)
    assert ours.dtype == np.float32 and ours.min() == pytest.approx(ours.max() - 80.0)
    np.testing.assert_allclose(ours, librosa.power_to_db(power), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("rows_per_block", [1, 7, 16, 200])
def test_blocked_bank_equals_the_dense_product(rows_per_block):
    bank = mel_filter_bank(16000, 512, 40)
    bank[5] = 0  # a filter with no bins at all
    spectrum = np.random.default_rng(3).random((257, 31)).astype(np.float32)
    blocked = BlockedBank(bank, rows_per_block) @ spectrum
    assert blocked.dtype == np.float32 and blocked.shape == (40, 31)
    np.testing.assert_allclose(blocked, bank @ spectrum, rtol=1e-5, atol=1e-7)
    assert not blocked[5].any()
