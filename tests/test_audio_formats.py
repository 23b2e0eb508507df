"""Every format libsndfile reads, any sample rate, any channel count: decoded to mono at the target rate."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from ser.corpus.audio import load_audio, probe
from ser.corpus.conventions import CONVENTIONS
from ser.corpus.ingest import ingest
from tests.audiofiles import write_tone

TARGET = 16000


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sample_rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    "suffix,subtype",
    [
        (".wav", "PCM_U8"),
        (".wav", "PCM_16"),
        (".wav", "PCM_24"),
        (".wav", "PCM_32"),
        (".wav", "FLOAT"),
        (".wav", "DOUBLE"),
        (".flac", "PCM_16"),
        (".flac", "PCM_24"),
        (".ogg", "VORBIS"),
    ],
)
def test_each_sample_format_decodes_to_the_same_tone(tmp_path, suffix, subtype):
    path = write_tone(tmp_path / f"tone{suffix}", sample_rate=TARGET, subtype=subtype, seconds=1.0, frequency=440.0)
    assert sf.info(path).subtype == subtype
    samples = load_audio(path, TARGET, min_samples=2048)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == TARGET
    assert dominant_frequency(samples, TARGET) == pytest.approx(440.0, abs=2.0)
    assert np.max(np.abs(samples)) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("native_rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_any_sample_rate_is_resampled_to_the_target(tmp_path, native_rate):
    path = write_tone(tmp_path / "tone.wav", sample_rate=native_rate, subtype="PCM_16", seconds=1.5, frequency=1000.0)
    samples = load_audio(path, TARGET, min_samples=2048)
    assert len(samples) == pytest.approx(sf.info(path).frames * TARGET / native_rate, abs=1)
    assert dominant_frequency(samples, TARGET) == pytest.approx(1000.0, abs=2.0)


@pytest.mark.parametrize("channels", [2, 6])
def test_channels_are_averaged(tmp_path, channels):
    """Channel k holds the tone scaled by 1/(k+1); their mean has peak 0.5 * mean(1/(k+1))."""
    path = write_tone(tmp_path / "tone.flac", sample_rate=TARGET, channels=channels, seconds=1.0)
    assert probe(path).channels == channels
    samples = load_audio(path, TARGET, min_samples=2048)
    expected_peak = 0.5 * np.mean([1 / (k + 1) for k in range(channels)])
    assert samples.ndim == 1 and np.max(np.abs(samples)) == pytest.approx(expected_peak, abs=0.01)


@pytest.mark.real_speech
def test_published_48k_stereo_ravdess_files_go_through_ingest(ravdess48k, ravdess16k, tmp_path):
    """The five files as published, mixed with 16 kHz mono ones so every emotion has two files."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ravdess48k, corpus / "published")
    for name in ("03-01-01-01-01-01-02.wav", "03-01-05-01-01-01-02.wav", "03-01-08-01-01-01-02.wav"):
        (corpus / "16k").mkdir(exist_ok=True)
        shutil.copyfile(ravdess16k / "Actor_02" / name, corpus / "16k" / name)
    result = ingest(corpus, CONVENTIONS["ravdess"], "all", sample_rate=TARGET, min_samples=2048)
    assert result.rejected.empty
    published = result.catalog[result.catalog["file"].str.startswith("published/")].set_index("file")
    assert len(published) == 5 and set(published["sample_rate"]) == {48000}
    stereo = {"03-01-08-01-02-02-01.wav", "03-01-02-01-01-02-01.wav", "03-01-02-01-02-02-05.wav"}
    assert {f.split("/")[1] for f in published.index[published["channels"] == 2]} == stereo
    for _, row in published.iterrows():
        samples = load_audio(row["path"], TARGET, min_samples=2048)
        assert len(samples) == pytest.approx(row["duration"] * TARGET, abs=1)
