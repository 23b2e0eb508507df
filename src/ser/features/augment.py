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
pitch      semitones, e.g. -2 or 2         pitch and formants moved, at the same tempo and length
noise      signal-to-noise ratio in dB     adds coloured noise (a colour drawn per speaker) at that SNR
reverb     reverberation time RT60, s      convolves with a synthetic room response (one room per speaker)
phone      upper band edge in Hz, e.g.     a telephone line: 300 Hz to the edge, at 8 kHz through 8-bit mu-law
           3400
=========  ==============================  =====================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ser.files import code_digest
from ser.names import AUGMENTATIONS as KINDS  # kind: (lowest value, highest value) allowed

VTLP_CUTOFF = 4800.0  # Hz: frequencies up to here scale by the warp factor, the rest map linearly onto the band
NPERSEG, HOP = 512, 128  # the short-time spectra of the phase vocoders (vtlp, pitch)
PHONE_RATE = 8000  # Hz: a telephone line's sample rate
PHONE_LOW_EDGE = 300.0  # Hz: a telephone line's lower band edge
MU = 255  # G.711's mu-law: 8 bits, a sign and 7 bits of companded magnitude


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

    nperseg, hop = NPERSEG, HOP
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
    phase = np.angle(spectrum)
    instantaneous = instantaneous_frequency(phase)
    nearest = np.clip(np.rint(position).astype(int), 0, bins - 1)
    ratio = np.where(source > 0, frequencies / np.maximum(source, 1e-9), warp)[:, None]
    advance = hop * instantaneous[nearest] * ratio
    warped_phase = np.concatenate([phase[nearest, :1], phase[nearest, :1] + np.cumsum(advance, axis=1)], axis=1)
    _, warped = istft(magnitude * np.exp(1j * warped_phase), fs=sample_rate, nperseg=nperseg, noverlap=nperseg - hop)
    return _at_level(_fit_length(warped, len(samples)), samples)


def instantaneous_frequency(phase: np.ndarray) -> np.ndarray:
    """The instantaneous frequency (radians per sample) of each bin between consecutive frames of a short-time
    spectrum (:data:`NPERSEG`, :data:`HOP`) whose phases are ``phase``: from each bin's phase advance over a hop,
    one column fewer."""
    centre = 2 * np.pi * np.arange(phase.shape[0]) / NPERSEG
    deviation = np.diff(phase, axis=1) - HOP * centre[:, None]
    return centre[:, None] + (deviation + np.pi) % (2 * np.pi) / HOP - np.pi / HOP


def time_stretch(samples: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """``samples`` made ``factor`` times as long at the same pitch (a phase vocoder): each output frame's
    magnitudes interpolated between the two input frames around it, its phases advanced at their instantaneous
    frequencies."""
    from scipy.signal import istft, stft  # here, not at the top: a third of a second in every extraction worker

    _, _, spectrum = stft(samples, fs=sample_rate, nperseg=NPERSEG, noverlap=NPERSEG - HOP)
    steps = np.arange(0.0, spectrum.shape[1] - 1, 1 / factor)
    frame = steps.astype(int)
    weight = steps - frame
    magnitude = (1 - weight) * np.abs(spectrum[:, frame]) + weight * np.abs(spectrum[:, frame + 1])
    phase = np.angle(spectrum)
    advance = HOP * instantaneous_frequency(phase)[:, frame]
    stretched_phase = phase[:, :1] + np.concatenate(
        [np.zeros_like(phase[:, :1]), np.cumsum(advance[:, :-1], axis=1)], axis=1
    )
    _, stretched = istft(
        magnitude * np.exp(1j * stretched_phase), fs=sample_rate, nperseg=NPERSEG, noverlap=NPERSEG - HOP
    )
    return stretched


def pitch_shift(samples: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """``samples`` with every frequency (pitch and formants) multiplied by ``2 ** (semitones / 12)`` at the same
    tempo: stretched that many times as long (:func:`time_stretch`), then played that much faster (:func:`speed`).
    At the RMS level of ``samples``, and the same length."""
    ratio = 2 ** (semitones / 12)
    shifted = speed(time_stretch(samples, ratio, sample_rate), ratio)
    return _at_level(_fit_length(shifted, len(samples)), samples)


def mu_law(samples: np.ndarray) -> np.ndarray:
    """``samples`` (in -1..1) through 8-bit mu-law (G.711): companded, the magnitude rounded to 7 bits, expanded."""
    clipped = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    code = np.rint(np.log1p(MU * np.abs(clipped)) / np.log1p(MU) * 127) / 127
    return np.sign(clipped) * np.expm1(code * np.log1p(MU)) / MU


def telephone(samples: np.ndarray, edge: float, sample_rate: int) -> np.ndarray:
    """``samples`` through a telephone line: resampled to 8 kHz, band-limited to :data:`PHONE_LOW_EDGE`..``edge`` Hz,
    coded in 8-bit mu-law (:func:`mu_law`), resampled back to ``sample_rate`` and band-limited again on the receiving
    side (which removes the coding noise and the resampling's images outside the band). The band-passes are elliptic
    (0.5 dB ripple, 60 dB down outside) and causal, as a line's are. The same length."""
    from scipy.signal import ellip, resample_poly, sosfilt  # here, not at the top: see vtlp

    def band(rate: int) -> np.ndarray:
        return ellip(6, 0.5, 60, [PHONE_LOW_EDGE, edge], btype="bandpass", fs=rate, output="sos")

    ratio = Fraction(PHONE_RATE, sample_rate)
    narrow = resample_poly(np.asarray(samples, dtype=np.float64), ratio.numerator, ratio.denominator)
    coded = mu_law(sosfilt(band(PHONE_RATE), narrow))
    received = sosfilt(band(sample_rate), resample_poly(coded, ratio.denominator, ratio.numerator))
    return _fit_length(received, len(samples)).astype(np.float32)


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
    elif kind == "pitch":
        out = pitch_shift(samples, value, sample_rate)
    elif kind == "phone":
        out = telephone(samples, value, sample_rate)
    elif kind == "noise":
        colour = seeded(seed, perturbation.name, speaker).uniform(0.0, 2.0)
        out = add_noise(samples, value, colour, seeded(seed, perturbation.name, speaker, file))
    else:
        out = reverberate(samples, room_response(value, sample_rate, seeded(seed, perturbation.name, speaker)))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def perturbed_copy(samples: np.ndarray, copy: tuple, sample_rate: int) -> np.ndarray:
    """A file's ``samples`` as its copy ``copy`` (a :func:`copy_rows` row's ``perturbation``) sounds."""
    perturbation, speaker, file, seed = copy
    return perturb(samples, perturbation, sample_rate, speaker=speaker, file=file, seed=seed)


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` cut or zero-padded to ``length``."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out.astype(np.float64)


def _at_level(samples: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``samples`` scaled to the RMS level of ``reference``, as float32."""
    level = np.sqrt(np.mean(np.asarray(reference, dtype=np.float64) ** 2) / max(float(np.mean(samples**2)), 1e-24))
    return (samples * level).astype(np.float32)


def pseudo_speaker(speaker: str, perturbation: Perturbation) -> str:
    """The pseudo-speaker of ``speaker``'s files in the copy ``perturbation``: ``01~noise15``."""
    return f"{speaker}~{perturbation.name}"


def copy_rows(catalog_rows: list[dict], copies: tuple[str, ...], seed: int) -> list[dict]:
    """A catalog row for each copy of each file: ``speaker`` its pseudo-speaker, ``sha256`` a key of the file's
    content, the copy, the seed and this module's code (what its features are cached by), ``perturbation`` what
    :func:`perturb` takes."""
    rows, code = [], code_digest(__name__)
    for text in copies:
        perturbation = Perturbation.parse(text)
        for row in catalog_rows:
            key = hashlib.sha256(f"{row['sha256']}\0{perturbation.name}\0{seed}\0{code}".encode()).hexdigest()
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
