"""Perturbed copies of training recordings: more voices, rooms and channels from the speakers a corpus has.

A copy is one perturbation applied to every file of a speaker, so the copy of a speaker's files is a
pseudo-speaker (its own group for per-speaker normalisation) that belongs to its source speaker's fold:
it is trained on only where that speaker is. Every copy is deterministic: its random draws are seeded by
the seed, the copy's name and the source speaker (the room, the noise's colour) or the file (the noise).

=========  ==============================  =====================================================
kind       value                           what the copy does
=========  ==============================  =====================================================
speed      factor, e.g. 0.9 or 1.1         plays the file that much faster: pitch, formants and tempo
vtlp       warp factor, e.g. 0.9 or 1.1    vocal tract length: the spectrum's frequencies scaled (up to 4.8 kHz)
noise      signal-to-noise ratio in dB     adds coloured noise (a colour drawn per speaker) at that SNR
reverb     reverberation time RT60, s      convolves with a synthetic room response (one room per speaker)
=========  ==============================  =====================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ser.names import AUGMENTATIONS as KINDS  # kind: (lowest value, highest value) allowed

VTLP_CUTOFF = 4800.0  # Hz: frequencies up to here scale by the warp factor, the rest map linearly onto the band


@dataclass(frozen=True)
class Perturbation:
    """One perturbed copy: its ``kind`` (:data:`KINDS`) and ``value``."""

    kind: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Perturbation:
        """``"speed 0.9"`` to ``Perturbation("speed", 0.9)``; ValueError naming what is allowed."""
        parts = str(text).split()
        allowed = ", ".join(f"{kind} {low:g}..{high:g}" for kind, (low, high) in KINDS.items())
        try:
            kind, value = parts[0], float(parts[1])
        except (IndexError, ValueError):
            raise ValueError(f"got {text!r}; a copy is a kind and a value, one of: {allowed}") from None
        if len(parts) != 2 or kind not in KINDS or not KINDS[kind][0] <= value <= KINDS[kind][1]:
            raise ValueError(f"got {text!r}; allowed: {allowed}")
        return cls(kind, value)

    @property
    def name(self) -> str:
        """``speed0.9``: how the copy's pseudo-speakers and cache entries are named."""
        return f"{self.kind}{self.value:g}"


def seeded(*parts) -> np.random.Generator:
    """A generator seeded by the digest of ``parts``: the same draws for the same parts, in any process."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """``samples`` played ``factor`` times faster (Kaldi's speed perturbation): ``len / factor`` samples long,
    every frequency multiplied by ``factor``. Resampled by a polyphase filter at the nearest ratio of
    integers up to 100."""
    from scipy.signal import resample_poly  # here, not at the top: the features stage imports this module

    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(samples, ratio.denominator, ratio.numerator).astype(np.float32)


def vtlp(samples: np.ndarray, warp: float, sample_rate: int) -> np.ndarray:
    """Vocal tract length perturbation (Jaitly and Hinton, 2013) on the waveform: each frame's spectrum with its
    frequencies ``f`` moved to ``warp * f`` up to :data:`VTLP_CUTOFF` (scaled by ``min(warp, 1)``), the rest
    mapped linearly onto the band up to Nyquist. Magnitudes are interpolated; each output bin's phase advances at
    its source bin's instantaneous frequency, warped (a phase vocoder), so a partial at ``f`` comes out at its
    warped frequency. At the RMS level of ``samples``, and the same length."""
    from scipy.signal import istft, stft  # here, not at the top: a third of a second in every extraction worker

    nperseg, hop = 512, 128
    nyquist = sample_rate / 2
    frequencies, _, spectrum = stft(samples, fs=sample_rate, nperseg=nperseg, noverlap=nperseg - hop)
    bins = len(frequencies)
    knee = VTLP_CUTOFF * min(warp, 1.0) / warp
    # the source frequency of each output frequency: the inverse of the piecewise linear warp
    source = np.interp(frequencies, [0.0, knee * warp, nyquist], [0.0, knee, nyquist])
    position = source / frequencies[1]
    below = np.clip(np.floor(position).astype(int), 0, bins - 1)
    above = np.minimum(below + 1, bins - 1)
    weight = (position - below)[:, None]
    magnitude = (1 - weight) * np.abs(spectrum[below]) + weight * np.abs(spectrum[above])
    # instantaneous frequency (radians per sample) of each source bin between frames, from its phase advance
    phase = np.angle(spectrum)
    centre = 2 * np.pi * np.arange(bins) / nperseg
    deviation = np.diff(phase, axis=1) - hop * centre[:, None]
    instantaneous = centre[:, None] + (deviation + np.pi) % (2 * np.pi) / hop - np.pi / hop
    nearest = np.clip(np.rint(position).astype(int), 0, bins - 1)
    ratio = np.where(source > 0, frequencies / np.maximum(source, 1e-9), warp)[:, None]
    advance = hop * instantaneous[nearest] * ratio
    warped_phase = np.concatenate([phase[nearest, :1], phase[nearest, :1] + np.cumsum(advance, axis=1)], axis=1)
    _, warped = istft(magnitude * np.exp(1j * warped_phase), fs=sample_rate, nperseg=nperseg, noverlap=nperseg - hop)
    warped = _fit_length(warped, len(samples))
    level = np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2) / max(float(np.mean(warped**2)), 1e-24))
    return (warped * level).astype(np.float32)


def coloured_noise(length: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power falls as ``1 / f**exponent`` (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(length // 2 + 1) + 1j * rng.standard_normal(length // 2 + 1)
    scale = np.arange(length // 2 + 1, dtype=np.float64)
    scale[0] = scale[1] if length > 2 else 1.0
    noise = np.fft.irfft(spectrum / scale ** (exponent / 2), n=length)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def add_noise(samples: np.ndarray, snr_db: float, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` plus coloured noise (:func:`coloured_noise`) at ``snr_db`` below their mean power."""
    power = float(np.mean(np.asarray(samples, dtype=np.float64) ** 2))
    noise = coloured_noise(len(samples), exponent, rng) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def room_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, then Gaussian noise decaying by 60 dB in ``rt60``
    seconds (from 5 ms on), low-passed a little by averaging neighbours; unit energy."""
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * 10 ** (-3 * t / rt60)
    tail[: int(0.005 * sample_rate)] = 0.0
    tail = np.convolve(tail, np.ones(3) / 3, mode="same")
    response = tail * 0.3 / max(float(np.sqrt(np.sum(tail**2))), 1e-12)
    response[0] = 1.0
    return response / np.sqrt(np.sum(response**2))


def reverberate(samples: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``samples`` convolved with ``response``, cut to their length, at their peak level."""
    from scipy.signal import fftconvolve  # here, not at the top: the features stage imports this module

    wet = fftconvolve(samples, response)[: len(samples)]
    peak = float(np.max(np.abs(samples)))
    return (wet * peak / max(float(np.max(np.abs(wet))), 1e-12)).astype(np.float32)


def perturb(
    samples: np.ndarray, perturbation: Perturbation, sample_rate: int, *, speaker: str, file: str, seed: int = 0
) -> np.ndarray:
    """The copy ``perturbation`` of one file's ``samples`` (mono float32 at ``sample_rate``): the same samples for
    the same arguments. ``speaker`` seeds what a pseudo-speaker shares (noise colour, room), ``file`` the rest."""
    kind, value = perturbation.kind, perturbation.value
    if kind == "speed":
        out = speed(samples, value)
    elif kind == "vtlp":
        out = vtlp(samples, value, sample_rate)
    elif kind == "noise":
        colour = seeded(seed, perturbation.name, speaker).uniform(0.0, 2.0)
        out = add_noise(samples, value, colour, seeded(seed, perturbation.name, speaker, file))
    else:
        out = reverberate(samples, room_response(value, sample_rate, seeded(seed, perturbation.name, speaker)))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` cut or zero-padded to ``length``."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out.astype(np.float64)


def pseudo_speaker(speaker: str, perturbation: Perturbation) -> str:
    """The pseudo-speaker of ``speaker``'s files in the copy ``perturbation``: ``01~noise15``."""
    return f"{speaker}~{perturbation.name}"


def copy_rows(catalog_rows: list[dict], copies: tuple[str, ...], seed: int) -> list[dict]:
    """A catalog row for each copy of each file: ``speaker`` its pseudo-speaker, ``sha256`` a key of the file's
    content, the copy and the seed (what its features are cached by), ``perturbation`` what :func:`perturb` takes."""
    rows = []
    for text in copies:
        perturbation = Perturbation.parse(text)
        for row in catalog_rows:
            key = hashlib.sha256(f"{row['sha256']}\0{perturbation.name}\0{seed}".encode()).hexdigest()
            speaker = str(row["speaker"])
            rows.append(
                {
                    **row,
                    "speaker": pseudo_speaker(speaker, perturbation),
                    "sha256": key,
                    "perturbation": (perturbation, speaker, str(row["file"]), seed),
                }
            )
    return rows
