"""Framing and short-time spectra: the one implementation every STFT of the project goes through.

The feature extractor's power spectrogram, Whisper's log-mel front end and the demo
synthesiser's filtering all frame a signal here, centred on multiples of the hop (the
signal padded by half a frame at both ends), window each frame and take its real FFT.
"""

from __future__ import annotations

import numpy as np
import scipy.fft


def frame_signal(samples: np.ndarray, *, frame_length: int, hop_length: int, pad_mode: str = "constant") -> np.ndarray:
    """Centred frames, one per STFT frame: shape ``(frames, frame_length)`` (a read-only view)."""
    padded = np.pad(np.asarray(samples), frame_length // 2, mode=pad_mode)
    return np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]


def periodic_hann(length: int) -> np.ndarray:
    """The periodic Hann window of ``length`` samples (as librosa and Whisper use), float32."""
    return np.hanning(length + 1)[:-1].astype(np.float32)


def short_time_spectra(
    samples: np.ndarray, *, window: np.ndarray, hop_length: int, pad_mode: str = "constant"
) -> np.ndarray:
    """Real FFT of each windowed centred frame: ``(frames, len(window) // 2 + 1)`` complex."""
    frames = frame_signal(samples, frame_length=len(window), hop_length=hop_length, pad_mode=pad_mode)
    return scipy.fft.rfft(frames * window, axis=1, workers=1)


def power_spectrogram(
    samples: np.ndarray, *, window: np.ndarray, hop_length: int, pad_mode: str = "constant"
) -> np.ndarray:
    """|STFT|^2 as ``(bins, frames)``, C-contiguous (filter banks multiply it from the left)."""
    spectrum = short_time_spectra(samples, window=window, hop_length=hop_length, pad_mode=pad_mode)
    return np.ascontiguousarray((spectrum.real**2 + spectrum.imag**2).T)
