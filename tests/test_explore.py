"""`ser explore`: the five exploratory figures of one real recording, titled, labelled, written as PNG."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ser.corpus.audio import load_audio  # noqa: E402
from ser.reports.explore import FIGURES, explore_figures  # noqa: E402
from tests.audiofiles import write_tone  # noqa: E402
from tests.conftest import assert_one_line  # noqa: E402

RECORDING = "Actor_01/03-01-05-02-01-01-01.wav"  # angry, strong intensity


@pytest.fixture(scope="module")
def figures(speech16k):
    samples = load_audio(speech16k / RECORDING, 16000)
    drawn = explore_figures(samples, 16000, "angry.wav", n_fft=2048, hop_length=512, n_mels=64, n_mfcc=20)
    yield samples, drawn
    for figure in drawn.values():
        plt.close(figure)


def test_every_figure_is_titled_and_labelled(figures):
    _, drawn = figures
    assert list(drawn) == list(FIGURES)
    for name, figure in drawn.items():
        axes = figure.axes[0]
        assert "angry.wav" in axes.get_title(), name
        assert axes.get_xlabel() and axes.get_ylabel(), name


def test_figures_show_the_recording(figures):
    samples, drawn = figures
    frames = 1 + samples.size // 512
    waveform = drawn["waveform"].axes[0].lines[0].get_ydata()
    np.testing.assert_array_equal(waveform, samples)
    percussive, harmonic = (line.get_ydata() for line in drawn["harmonic_percussive"].axes[0].lines)
    # HPSS splits the signal: the two parts add back up to (nearly) the recording
    assert np.abs(harmonic + percussive - samples).max() < 0.05 * np.abs(samples).max()
    autocorrelation = drawn["onset_autocorrelation"].axes[0].lines[0].get_ydata()
    assert autocorrelation[0] == pytest.approx(1.0) and autocorrelation.max() == pytest.approx(1.0)
    assert drawn["mel_spectrogram"].axes[0].collections[0].get_array().reshape(64, -1).shape == (64, frames)
    assert drawn["mfcc"].axes[0].collections[0].get_array().reshape(20, -1).shape == (20, frames)


def test_cli_writes_five_pngs_and_names_a_bad_file(tmp_path):
    stereo = write_tone(tmp_path / "stereo.wav", sample_rate=48000, channels=2, seconds=2.0)  # as RAVDESS publishes
    run = subprocess.run(
        [sys.executable, "-m", "ser", "explore", str(stereo), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    written = run.stdout.split()
    assert written == [str(tmp_path / "out" / f"{name}.png") for name in FIGURES]
    for path in written:
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 500

    missing = subprocess.run(
        [sys.executable, "-m", "ser", "explore", str(tmp_path / "nope.wav")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert_one_line(missing.stderr, "error: ", str(tmp_path / "nope.wav"), "does not exist")


def test_the_cli_says_what_it_does_before_its_first_slow_step(tmp_path):
    """With librosa's compiled functions not yet cached (a first run: about 20 s of compiling), a line on stderr
    comes before any figure is written."""
    tone = write_tone(tmp_path / "tone.wav", sample_rate=16000, seconds=2.0)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "ser", "explore", str(tone), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")},
    )
    try:
        line = process.stderr.readline()
        assert line.strip() and not list(out.glob("*.png")) and process.poll() is None
    finally:
        process.kill()
        process.wait()
