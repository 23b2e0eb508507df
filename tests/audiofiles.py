"""Audio files for tests: copies of a few files of a RAVDESS-named corpus, and tones."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

# Two speakers x two emotions (neutral 01, calm 02), as named in RAVDESS and the synthetic speech16k corpus.
GOOD_RAVDESS = (
    "Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-02-01-01-01-01.wav",
    "Actor_02/03-01-01-01-01-01-02.wav", "Actor_02/03-01-02-01-01-01-02.wav",
)


def copy_good_files(speech16k: Path, corpus: Path) -> list[Path]:
    """Copy the :data:`GOOD_RAVDESS` files into ``corpus``; return their new paths."""
    copied = []
    for name in GOOD_RAVDESS:
        target = corpus / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(speech16k / name, target)
        copied.append(target)
    return copied


def tone(seconds: float = 1.0, sample_rate: int = 16000, frequency: float = 440.0, channels: int = 1,
         amplitude: float = 0.5) -> np.ndarray:
    """A sine tone, shape (frames, channels); channel k is scaled by 1/(k+1) so channels differ."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = amplitude * np.sin(2 * np.pi * frequency * t)
    return np.stack([mono / (k + 1) for k in range(channels)], axis=1)


def write_tone(path: Path, *, sample_rate: int = 16000, subtype: str | None = None, fmt: str | None = None,
               **tone_args) -> Path:
    """Write a tone file with soundfile (format from the suffix unless ``fmt`` is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(sample_rate=sample_rate, **tone_args), sample_rate, subtype=subtype, format=fmt)
    return path
