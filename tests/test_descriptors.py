"""Frame descriptors: agreement with librosa's equivalents on speech, and known answers on synthetic signals."""

import librosa
import numpy as np
import pytest

from ser.corpus.audio import load_audio
from ser.features import descriptors as d
from ser.features.extractor import FeatureExtractor
from tests.audiofiles import spread_files
from tests.featuresets import NOTEBOOK_FEATURES

SR, N_FFT, HOP = 16000, 2048, 512


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(NOTEBOOK_FEATURES, SR)


@pytest.fixture(scope="module")
def speech(speech16k, extractor):
    """(samples, power) of a dozen speech files, two per speaker."""
    return [
        (samples, extractor.power_spectrogram(samples))
        for samples in (load_audio(path, SR) for path in spread_files(speech16k, 12))
    ]


def tone(frequency, seconds=1.0, harmonics=(1,), sample_rate=SR):
    times = np.arange(int(seconds * sample_rate)) / sample_rate
    return sum(np.sin(2 * np.pi * frequency * k * times) / k for k in harmonics).astype(np.float32) * 0.3


def noise(seconds=1.0, seed=0):
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def test_spectral_shape_equals_librosa_on_speech(speech):
    for samples, power in speech:
        magnitude = np.sqrt(power)
        pairs = {
            "flatness": (d.spectral_flatness(power), librosa.feature.spectral_flatness(S=magnitude)),
            "rolloff": (
                d.spectral_rolloff(power, sample_rate=SR, n_fft=N_FFT),
                librosa.feature.spectral_rolloff(S=magnitude, sr=SR),
            ),
            "centroid": (
                d.spectral_centroid(power, sample_rate=SR, n_fft=N_FFT),
                librosa.feature.spectral_centroid(S=magnitude, sr=SR),
            ),
            "contrast": (
                d.spectral_contrast(power, sample_rate=SR, n_fft=N_FFT),
                librosa.feature.spectral_contrast(S=magnitude, sr=SR),
            ),
            "rms": (d.rms_energy(power, n_fft=N_FFT), librosa.feature.rms(S=magnitude, frame_length=N_FFT)),
            "zcr": (
                d.zero_crossing_rate(samples, frame_length=N_FFT, hop_length=HOP),
                librosa.feature.zero_crossing_rate(samples, frame_length=N_FFT, hop_length=HOP),
            ),
        }
        for name, (ours, theirs) in pairs.items():
            assert ours.shape == theirs.shape == (theirs.shape[0], power.shape[1]), name
            if name == "rolloff":  # librosa sums in float32: a frame right at the 85% point can land one bin over
                bin_width = SR / N_FFT
                assert np.abs(ours - theirs).max() <= bin_width and np.mean(ours == theirs) > 0.95, name
                continue
            scale = np.abs(theirs).max()
            # librosa computes in float32: flatness of a near-silent frame can read 1.0003
            np.testing.assert_allclose(ours, theirs, rtol=5e-4, atol=1e-5 * scale, err_msg=name)


def test_deltas_equal_librosa_including_short_inputs(speech, extractor):
    samples, _ = speech[0]
    mfcc = librosa.feature.mfcc(y=samples, sr=SR, n_mfcc=40)
    for order in (1, 2):
        np.testing.assert_allclose(
            d.delta(mfcc, order=order), librosa.feature.delta(mfcc, order=order), rtol=1e-4, atol=1e-4
        )
    short = mfcc[:, :5]  # fewer frames than the 9-frame window: the widest odd window that fits
    np.testing.assert_allclose(d.delta(short), librosa.feature.delta(short, width=5), rtol=1e-4, atol=1e-4)
    assert not d.delta(mfcc[:, :2]).any()  # too few frames for a derivative
    ramp = np.tile(np.arange(20.0), (3, 1)) * 2.5
    np.testing.assert_allclose(d.delta(ramp), 2.5)
    np.testing.assert_allclose(d.delta(ramp, order=2), 0, atol=1e-9)


def test_spectral_shape_on_tones_and_noise(extractor):
    power_tone = extractor.power_spectrogram(tone(1000))
    power_noise = extractor.power_spectrogram(noise())
    middle = slice(3, -3)  # frames away from the zero-padded edges
    assert d.spectral_flatness(power_tone)[0, middle].max() < 0.01
    assert d.spectral_flatness(power_noise)[0, middle].min() > 0.3
    np.testing.assert_allclose(d.spectral_centroid(power_tone, sample_rate=SR, n_fft=N_FFT)[0, middle], 1000, rtol=0.05)
    assert d.spectral_centroid(power_noise, sample_rate=SR, n_fft=N_FFT)[0, middle].mean() == pytest.approx(
        4000, rel=0.1
    )
    np.testing.assert_allclose(d.spectral_rolloff(power_tone, sample_rate=SR, n_fft=N_FFT)[0, middle], 1000, rtol=0.05)
    # a sine of amplitude a has RMS a / sqrt(2); the Hann window scales it by sqrt(3/8)
    np.testing.assert_allclose(
        d.rms_energy(power_tone, n_fft=N_FFT)[0, middle], 0.3 / np.sqrt(2) * np.sqrt(3 / 8), rtol=0.01
    )
    contrast_tone = d.spectral_contrast(power_tone, sample_rate=SR, n_fft=N_FFT)[:, middle].mean(axis=1)
    contrast_noise = d.spectral_contrast(power_noise, sample_rate=SR, n_fft=N_FFT)[:, middle].mean(axis=1)
    assert contrast_tone[3] > contrast_noise[3] + 20  # the 800-1600 Hz band holds the tone: a sharp peak
    assert np.all(np.isfinite(contrast_noise))


def test_zero_crossing_rate_of_a_tone_is_twice_its_frequency():
    rate = d.zero_crossing_rate(tone(440), frame_length=N_FFT, hop_length=HOP)[0, 3:-3]
    np.testing.assert_allclose(rate, 2 * 440 / SR, rtol=0.02)


def test_contrast_of_low_sample_rates_keeps_its_shape():
    power = FeatureExtractor(NOTEBOOK_FEATURES, 8000).power_spectrogram(noise())
    contrast = d.spectral_contrast(power, sample_rate=8000, n_fft=N_FFT)
    assert contrast.shape == (7, power.shape[1])
    assert not contrast[-1].any() and np.all(np.isfinite(contrast))  # the band above 4 kHz does not exist at 8 kHz


@pytest.mark.parametrize("frequency", [80.0, 150.0, 220.0, 330.0, 500.0])
def test_yin_finds_the_pitch_of_harmonic_tones(frequency):
    pitch = d.yin(tone(frequency, harmonics=(1, 2, 3)), sample_rate=SR, frame_length=N_FFT, hop_length=HOP)
    inner = slice(3, -3)
    assert pitch.voiced[inner].all()
    np.testing.assert_allclose(pitch.f0[inner], frequency, rtol=0.005)
    assert pitch.aperiodicity[inner].max() < 0.05


def test_yin_calls_noise_and_silence_unvoiced():
    samples = np.concatenate([noise(1.0), np.zeros(SR, np.float32)])
    pitch = d.yin(samples, sample_rate=SR, frame_length=N_FFT, hop_length=HOP)
    assert pitch.voiced.mean() < 0.1
    assert not pitch.voiced[-20:].any()  # digital silence: no energy, no pitch


def test_yin_agrees_with_librosa_pyin_on_speech(speech):
    agree, both = 0, 0
    for samples, _ in speech:
        ours = d.yin(samples, sample_rate=SR, frame_length=N_FFT, hop_length=HOP)
        f0, voiced, _ = librosa.pyin(samples, fmin=d.F0_MIN, fmax=d.F0_MAX, sr=SR, frame_length=N_FFT, hop_length=HOP)
        shared = ours.voiced & voiced
        both += shared.sum()
        agree += (np.abs(12 * np.log2(ours.f0[shared] / f0[shared])) < 1).sum()
        assert ours.voiced.sum() >= 5, "every recording has voiced speech"
    assert both > 200
    assert agree / both > 0.95  # within a semitone of pYIN where both call the frame voiced


def test_semitones_are_relative_to_27_5_hz():
    np.testing.assert_allclose(d.semitones(np.array([27.5, 55.0, 440.0])), [0, 12, 48])


def test_spectral_balance_of_noise_and_of_a_low_tone(extractor):
    middle = slice(3, -3)
    flat = d.spectral_balance(extractor.power_spectrogram(noise(2.0)), sample_rate=SR, n_fft=N_FFT)[:, middle].mean(
        axis=1
    )
    # white noise: energy in proportion to bandwidth, equal maxima, no slope
    assert flat[0] == pytest.approx(10 * np.log10(950 / 4000), abs=0.3)
    assert abs(flat[1]) < 3 and abs(flat[2]) < 3 and abs(flat[3]) < 3
    low = d.spectral_balance(extractor.power_spectrogram(tone(300, 2.0)), sample_rate=SR, n_fft=N_FFT)[:, middle].mean(
        axis=1
    )
    assert low[0] > 60 and low[1] > 60  # all the energy below 1 kHz
    assert low[3] < 0  # falling from the 300 Hz peak through 500-1500 Hz
    tiny = d.spectral_balance(np.ones((5, 3), np.float32), sample_rate=8, n_fft=8)
    assert tiny.shape == (4, 3) and not tiny.any()  # no bin in any band at an 8 Hz sample rate


def test_level_and_active_frames():
    samples = np.concatenate([tone(440, 1.0), np.zeros(SR, np.float32), tone(440, 1.0) * 0.001])
    power = FeatureExtractor(NOTEBOOK_FEATURES, SR).power_spectrogram(samples)
    level = d.level_db(power, n_fft=N_FFT)[0]
    assert level[5] == pytest.approx(20 * np.log10(0.3 / np.sqrt(2) * np.sqrt(3 / 8)), abs=0.05)
    assert level[45] == pytest.approx(-100)  # digital silence sits on the floor
    active = d.active_frames(power, n_fft=N_FFT)
    assert active[5] and not active[45] and not active[-5]  # the -60 dB tone is below the 40 dB range
