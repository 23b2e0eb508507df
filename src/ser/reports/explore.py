"""Exploratory figures for one recording (``ser explore``), as PNG files.

Five figures, each titled with the file's name and with labelled axes:

* ``waveform.png``: the samples over time;
* ``harmonic_percussive.png``: the harmonic and percussive parts (median-filtering
  HPSS, ``librosa.effects.hpss``) overlaid;
* ``onset_autocorrelation.png``: autocorrelation of the onset-strength envelope, the
  rhythm of the speech (peaks at the lags where onsets repeat);
* ``mel_spectrogram.png``: mel-band power in dB;
* ``mfcc.png``: the MFCC matrix the model's features average.

This is exploration, not the prediction path, so it uses librosa and matplotlib
freely; both are imported only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIGURES = ("waveform", "harmonic_percussive", "onset_autocorrelation", "mel_spectrogram", "mfcc")


def explore_figures(
    samples: np.ndarray,
    sample_rate: int,
    name: str,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_mfcc: int = 40,
) -> dict:
    """The figures of :data:`FIGURES` for mono ``samples``, keyed by name (matplotlib figures)."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.arange(samples.size) / sample_rate
    figures = {}

    figure, axes = plt.subplots(figsize=(8, 3))
    axes.plot(times, samples, linewidth=0.5)
    axes.set(xlabel="time (s)", ylabel="amplitude", title=f"Waveform: {name}", xlim=(0, times[-1]))
    figures["waveform"] = figure

    harmonic, percussive = librosa.effects.hpss(samples, n_fft=n_fft, hop_length=hop_length)
    figure, axes = plt.subplots(figsize=(8, 3))
    axes.plot(times, percussive, linewidth=0.5, alpha=0.7, color="tab:orange", label="percussive")
    axes.plot(times, harmonic, linewidth=0.5, alpha=0.8, color="tab:blue", label="harmonic")
    axes.set(
        xlabel="time (s)", ylabel="amplitude", title=f"Harmonic / percussive separation: {name}", xlim=(0, times[-1])
    )
    axes.legend(loc="upper right")
    figures["harmonic_percussive"] = figure

    onsets = librosa.onset.onset_strength(y=samples, sr=sample_rate, n_fft=n_fft, hop_length=hop_length)
    autocorrelation = librosa.autocorrelate(onsets)
    if autocorrelation[0] > 0:
        autocorrelation = autocorrelation / autocorrelation[0]
    lags = np.arange(autocorrelation.size) * hop_length / sample_rate
    figure, axes = plt.subplots(figsize=(8, 3))
    axes.plot(lags, autocorrelation)
    axes.set(
        xlabel="lag (s)",
        ylabel="autocorrelation (1 at lag 0)",
        title=f"Onset-strength autocorrelation: {name}",
        xlim=(0, lags[-1]),
    )
    figures["onset_autocorrelation"] = figure

    mel = librosa.feature.melspectrogram(y=samples, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    mel_db = librosa.power_to_db(mel, ref=np.max)
    figure, axes = plt.subplots(figsize=(8, 4))
    image = librosa.display.specshow(
        mel_db, sr=sample_rate, hop_length=hop_length, x_axis="time", y_axis="mel", ax=axes
    )
    axes.set(xlabel="time (s)", ylabel="frequency (Hz, mel scale)", title=f"Mel spectrogram ({n_mels} bands): {name}")
    figure.colorbar(image, ax=axes, format="%+.0f dB", label="power (dB below the peak)")
    figures["mel_spectrogram"] = figure

    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)
    figure, axes = plt.subplots(figsize=(8, 4))
    image = librosa.display.specshow(mfcc, sr=sample_rate, hop_length=hop_length, x_axis="time", ax=axes)
    ticks = np.arange(0, n_mfcc, max(1, n_mfcc // 8))
    axes.set_yticks(ticks + 0.5, [str(t) for t in ticks])  # row i spans [i, i + 1)
    axes.set(xlabel="time (s)", ylabel="MFCC coefficient", title=f"MFCC ({n_mfcc} coefficients): {name}")
    figure.colorbar(image, ax=axes, label="coefficient value")
    figures["mfcc"] = figure
    return figures


def write_explore_plots(
    path: str | Path,
    out: str | Path,
    *,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_mfcc: int = 40,
    name: str | None = None,
) -> list[Path]:
    """Decode ``path`` as the pipeline does and write its figures as ``out/<figure>.png`` (each atomically).

    Raises :class:`ser.corpus.audio.AudioError` for a file that is not usable audio.
    """
    from ser.corpus.audio import load_audio
    from ser.reports.figures import save_figure

    samples = load_audio(path, sample_rate, min_samples=n_fft)
    figures = explore_figures(
        samples, sample_rate, name or Path(path).name, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, n_mfcc=n_mfcc
    )
    written = []
    for key, figure in figures.items():
        save_figure(figure, Path(out) / f"{key}.png")
        written.append(Path(out) / f"{key}.png")
    return written
