"""A small synthetic corpus of "acted emotional speech", the project's offline default data.

No real corpus can ship with the project, so the default pipeline runs on this one. It is
not real speech but a source-filter imitation of it, good enough for features such as
time-averaged MFCC, chroma and mel power to behave roughly as they do on acted speech:

* Source: a Rosenberg-style glottal pulse train (flow derivative) that follows a pitch
  contour with declination, an accent on every stressed syllable and a final fall or
  rise, plus cycle-to-cycle jitter and shimmer and pulse-synchronous aspiration noise.
* Filter: cascaded formant resonators that move through the vowels of one of the two RAVDESS
  sentences ("Kids are talking by the door", "Dogs are sitting by the door"), syllable by
  syllable, with coarticulated transitions; they are applied frame by frame in the
  short-time Fourier domain as a minimum-phase filter, together with the spectral tilt.
* Articulation: consonant closures, bursts and frication noise, syllable amplitude
  envelopes, an optional pause at the phrase break and a little silence at both ends.
* Speakers (odd actors male, even female, as in RAVDESS) differ in pitch, vocal-tract
  length (formant scale), speaking rate, breathiness, voice quality, vowel habits,
  expressiveness and recording level.
* Emotions differ as acted speech does: pitch level, range and final contour, tempo,
  loudness, spectral tilt, glottal voice quality (open quotient, closure sharpness,
  breathiness), jitter, shimmer, tremor and articulation. Strong intensity exaggerates an
  emotion's departure from neutral; each actor portrays each emotion a little
  differently and every take varies a little, so the classes overlap.

Files follow the RAVDESS naming convention (``03-01-EE-II-SS-RR-AA.wav`` in ``Actor_AA``
folders, 60 per actor), so the whole pipeline runs on them unchanged. Generation is
deterministic: the same arguments always give byte-identical files.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import soundfile as sf

from ser.cores import usable_cores
from ser.dsp.frames import short_time_spectra
from ser.names import RAVDESS_EMOTIONS

INTENSITY_GAIN = {1: 1.0, 2: 1.5}  # strong intensity exaggerates the departure from neutral
TAKE, VOICE, PORTRAYAL = 1, 2, 3  # tags that keep the random streams of takes, voices and portrayals apart

# Vowel formant targets F1-F3 in Hz of an adult male vocal tract (after Peterson & Barney
# 1952); a diphthong or an r-coloured vowel has two targets. The higher formants of a
# uniform tube follow them, so the spectrum does not fall off too steeply above F3.
VOWELS = {
    "I": ((390, 1990, 2550),),
    "A": ((730, 1090, 2440),),
    "O": ((570, 840, 2410),),
    "@": ((500, 1450, 2500),),
    "ai": ((710, 1200, 2500), (330, 2100, 2700)),
    "ar": ((730, 1090, 2440), (500, 1300, 1750)),
    "Or": ((570, 840, 2410), (500, 1200, 1750)),
}
HIGHER_FORMANTS = (3500, 4500, 5500, 6500, 7500)
N_FORMANTS = 3 + len(HIGHER_FORMANTS)
SCHWA = np.array(VOWELS["@"][0] + HIGHER_FORMANTS, dtype=float)


@dataclass(frozen=True)
class Consonant:
    """An onset consonant: closure (silent or voiced), then a noise burst or frication."""

    closure: float  # s
    noise: float  # s
    voiced: bool
    band: tuple[float, float]  # Hz, of the frication noise
    level: float  # frication amplitude relative to the vowel
    f2_locus: float  # Hz, where F2 starts before gliding to the vowel


CONSONANTS = {
    "k": Consonant(0.050, 0.040, False, (1500, 3000), 0.30, 1900),
    "t": Consonant(0.045, 0.040, False, (3000, 6500), 0.30, 1800),
    "d": Consonant(0.035, 0.012, True, (2500, 6000), 0.20, 1700),
    "b": Consonant(0.040, 0.010, True, (500, 1800), 0.15, 900),
    "s": Consonant(0.000, 0.100, False, (4000, 7500), 0.35, 1700),
    "z": Consonant(0.000, 0.060, True, (3800, 7200), 0.15, 1700),
    "dh": Consonant(0.000, 0.035, True, (1500, 6000), 0.08, 1500),
}

# The two RAVDESS statements as (onset, vowel, stressed) syllables; a pause may follow the
# fourth ("Kids are talking | by the door").
# fmt: off
STATEMENTS = {
    1: (("k", "I", True), ("z", "ar", False), ("t", "O", True), ("k", "I", False),
        ("b", "ai", True), ("dh", "@", False), ("d", "Or", True)),
    2: (("d", "A", True), ("z", "ar", False), ("s", "I", True), ("t", "I", False),
        ("b", "ai", True), ("dh", "@", False), ("d", "Or", True)),
}
# fmt: on
PHRASE_BREAK = 4


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker."""

    f0: float  # Hz, typical pitch
    formant_scale: float  # >1: shorter vocal tract, higher formants
    vowel_habits: tuple[np.ndarray, ...]  # per-vowel factors on the formants (an accent)
    bandwidth: float  # factor on formant bandwidths
    rate: float  # syllables per second
    breathiness: float  # aspiration relative to the voice
    open_quotient: float  # offset added to the emotion's open quotient
    tilt: float  # dB/octave
    expressiveness: float  # factor on every emotion's departure from neutral
    gain: float  # dB, recording level


@dataclass(frozen=True)
class Prosody:
    """How one take is spoken; emotions are departures from :data:`NEUTRAL`."""

    pitch: float  # semitones from the speaker's typical pitch
    pitch_range: float  # semitones of accent excursion
    final: float  # semitones of final movement (<0 fall, >0 rise)
    tempo: float  # factor on speaking rate
    loudness: float  # dB
    tilt: float  # dB/octave, >0 brighter
    open_quotient: float  # fraction of the glottal cycle the glottis is open
    skew: float  # opening / closing time: a higher skew closes more sharply (pressed voice)
    breath: float  # extra aspiration
    jitter: float  # relative cycle-to-cycle period perturbation
    shimmer: float  # relative cycle-to-cycle amplitude perturbation
    tremor: float  # semitones of 5-7 Hz pitch tremor
    formants: float  # factor on formant frequencies (smiling or spread lips raise them)
    pause: float  # s, longest pause at the phrase break


NEUTRAL = Prosody(0.0, 3.0, -2.5, 1.00, 0.0, 0.0, 0.60, 2.0, 0.00, 0.006, 0.03, 0.0, 1.00, 0.08)
PROSODY = {
    "neutral": NEUTRAL,
    "calm": Prosody(-1.0, 2.0, -2.0, 0.88, -3.0, -1.2, 0.66, 1.8, 0.04, 0.005, 0.03, 0.0, 0.99, 0.15),
    "happy": Prosody(3.5, 5.5, -1.0, 1.10, 4.0, 1.5, 0.55, 2.4, 0.00, 0.007, 0.04, 0.0, 1.05, 0.05),
    "sad": Prosody(-1.5, 1.4, -3.0, 0.78, -6.0, -2.5, 0.72, 1.6, 0.08, 0.012, 0.06, 0.15, 0.97, 0.25),
    "angry": Prosody(3.0, 5.0, -4.0, 1.15, 8.0, 3.0, 0.45, 3.0, 0.00, 0.012, 0.06, 0.0, 1.06, 0.03),
    "fearful": Prosody(6.0, 3.0, 0.5, 1.25, 1.0, 0.5, 0.62, 2.0, 0.08, 0.020, 0.08, 0.5, 1.02, 0.12),
    "disgust": Prosody(-1.5, 4.0, -5.0, 0.80, 1.0, 0.5, 0.52, 2.4, 0.03, 0.020, 0.09, 0.0, 0.98, 0.20),
    "surprised": Prosody(5.0, 7.0, 6.0, 1.00, 4.0, 1.5, 0.58, 2.2, 0.02, 0.007, 0.04, 0.0, 1.03, 0.05),
}

REFERENCE_RMS_DB = -30.0  # dBFS of neutral speech at 0 dB recording gain
NOISE_FLOOR = 5e-5  # RMS of the room noise
SOURCE_TILT = 3.0  # dB/octave that bring the smoothly closing pulse up to the spectral balance of real voices


def voice_for(actor: int, seed: int) -> Voice:
    """The fixed voice of one synthetic actor (odd ids male, even female, as in RAVDESS)."""
    rng = np.random.default_rng([seed, VOICE, actor])
    male = actor % 2 == 1
    return Voice(
        f0=rng.uniform(100, 140) if male else rng.uniform(180, 240),
        formant_scale=rng.uniform(0.94, 1.04) if male else rng.uniform(1.10, 1.20),
        vowel_habits=tuple(rng.uniform(0.95, 1.05, (len(targets), N_FORMANTS)) for targets in VOWELS.values()),
        bandwidth=rng.uniform(0.85, 1.25),
        rate=rng.uniform(4.2, 5.5),
        breathiness=rng.uniform(0.02, 0.10) + (0.0 if male else 0.04),
        open_quotient=rng.uniform(-0.06, 0.06) + (0.0 if male else 0.04),
        tilt=rng.uniform(-1.5, 1.5),
        expressiveness=rng.uniform(0.8, 1.2),
        gain=rng.uniform(-3.0, 3.0),
    )


# Plausible limits of the cues, so that exaggerated portrayals stay speech.
LIMITS = {
    "pitch_range": (0.5, 12.0),
    "tempo": (0.7, 1.6),
    "open_quotient": (0.3, 0.85),
    "skew": (1.0, 4.0),
    "breath": (0.0, 0.3),
    "jitter": (0.0, 0.05),
    "shimmer": (0.0, 0.2),
    "tremor": (0.0, 1.5),
    "formants": (0.9, 1.1),
    "pause": (0.0, 0.3),
}


def portrayal_for(actor: int, emotion: str, intensity: int, voice: Voice, seed: int) -> Prosody:
    """How this actor portrays the emotion: its departure from neutral, scaled by intensity,
    by the actor's expressiveness and by an actor-specific factor on each prosodic cue."""
    rng = np.random.default_rng([seed, PORTRAYAL, actor, RAVDESS_EMOTIONS.index(emotion)])
    neutral, target = np.array(astuple(NEUTRAL)), np.array(astuple(PROSODY[emotion]))
    emphasis = INTENSITY_GAIN[intensity] * voice.expressiveness * rng.uniform(0.7, 1.3, neutral.size)
    return _within_limits(neutral + emphasis * (target - neutral))


def vary_take(prosody: Prosody, rng: np.random.Generator) -> Prosody:
    """The small random differences between two takes of the same portrayal."""
    values = dict(zip(Prosody.__dataclass_fields__, astuple(prosody)))
    values["pitch"] += rng.normal(0, 0.5)
    values["pitch_range"] *= rng.uniform(0.85, 1.15)
    values["tempo"] *= rng.uniform(0.95, 1.05)
    values["loudness"] += rng.normal(0, 1.5)
    return _within_limits(list(values.values()))


def _within_limits(values) -> Prosody:
    values = dict(zip(Prosody.__dataclass_fields__, values))
    for name, (low, high) in LIMITS.items():
        values[name] = min(max(float(values[name]), low), high)
    return Prosody(**values)


@dataclass
class Timeline:
    """Where each sound of an utterance is, as per-sample gains and per-sample targets."""

    voicing: np.ndarray  # gain of the glottal source
    frication: list[tuple[slice, Consonant]]  # where each consonant's noise is
    pitch_points: tuple[np.ndarray, np.ndarray]  # (sample, semitones)
    formant_points: tuple[np.ndarray, np.ndarray]  # (sample, formants in Hz)
    speech: slice  # from the first to the last speech sample


def plan_utterance(syllables, voice: Voice, prosody: Prosody, rng: np.random.Generator, sample_rate: int) -> Timeline:
    """Lay out the syllables in time with their pitch targets, formant targets and envelopes."""
    syllable_time = 1.0 / (voice.rate * prosody.tempo)
    consonant_time = prosody.tempo**-0.5  # consonants stretch less than vowels
    lead, tail = rng.uniform(0.1, 0.25, 2)
    segments, pitch_points, formant_points = [], [], []
    t = lead
    for index, (onset, vowel, stressed) in enumerate(syllables):
        if index == PHRASE_BREAK:
            t += prosody.pause * rng.uniform(0.0, 1.0)
        consonant = CONSONANTS[onset]
        closure, noise = consonant.closure * consonant_time, consonant.noise * consonant_time
        weight = (1.25 if stressed else 0.8) * (1.4 if index == len(syllables) - 1 else 1.0)
        length = max(0.06, weight * syllable_time * rng.uniform(0.85, 1.15) - closure - noise)
        release, start, stop = t + closure, t + closure + noise, t + closure + noise + length
        segments.append((t, release, start, stop, consonant, stressed, index / len(syllables)))

        position = (index + 0.5) / len(syllables)
        accent = prosody.pitch_range * (rng.uniform(0.7, 1.0) if stressed else rng.uniform(-0.1, 0.25))
        level = prosody.pitch - 2.0 * position + accent
        pitch_points += [(start, level - 0.3 * accent), (start + 0.4 * length, level)]
        if index == len(syllables) - 1:
            pitch_points.append((stop, level + prosody.final))

        targets = formant_targets(vowel, stressed, voice, prosody)
        locus = targets[0].copy()
        locus[0] *= 0.6
        locus[1] += 0.5 * (consonant.f2_locus * voice.formant_scale - locus[1])
        formant_points.append((release, locus))
        moments = (0.3, 0.7) if len(targets) == 1 else (0.25, 0.85)
        formant_points += [(start + m * length, targets[min(i, len(targets) - 1)]) for i, m in enumerate(moments)]
        t = stop
    n = int(round((t + tail) * sample_rate))
    timeline = Timeline(
        voicing=np.zeros(n),
        frication=[],
        pitch_points=_points(pitch_points, sample_rate),
        formant_points=_points(formant_points, sample_rate),
        speech=slice(int(lead * sample_rate), int(t * sample_rate)),
    )
    for segment in segments:
        _articulate(timeline, *segment, sample_rate=sample_rate)
    width = max(1, int(0.006 * sample_rate))
    for _ in range(2):
        timeline.voicing = scipy.ndimage.uniform_filter1d(timeline.voicing, width)
    return timeline


def formant_targets(vowel: str, stressed: bool, voice: Voice, prosody: Prosody) -> list[np.ndarray]:
    """Formant targets of a vowel for this speaker and emotion; unstressed vowels drift to schwa."""
    habits = voice.vowel_habits[list(VOWELS).index(vowel)]
    reduction = 0.0 if stressed else 0.3
    return [
        ((1 - reduction) * np.array(target + HIGHER_FORMANTS) + reduction * SCHWA)
        * habit
        * voice.formant_scale
        * prosody.formants
        for target, habit in zip(VOWELS[vowel], habits)
    ]


def _points(points, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    times, values = zip(*points)
    return np.array(times) * sample_rate, np.array(values)


def _articulate(
    timeline: Timeline,
    onset: float,
    release: float,
    start: float,
    stop: float,
    consonant: Consonant,
    stressed: bool,
    position: float,
    *,
    sample_rate: int,
):
    """Write one syllable's consonant and vowel gains into the timeline."""
    o, r, s, e = (int(x * sample_rate) for x in (onset, release, start, stop))
    if consonant.voiced:
        timeline.voicing[o:r] = 0.1  # voice bar under a voiced closure
        timeline.voicing[r:s] = 0.4
    timeline.frication.append((slice(r, s), consonant))
    stress = 1.0 if stressed else 0.7
    declination = 10 ** (-4 * position / 20)
    timeline.voicing[s:e] = stress * declination * np.sin(np.pi * np.linspace(0, 1, e - s)) ** 0.4


def glottal_source(
    timeline: Timeline, voice: Voice, prosody: Prosody, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """The voiced excitation: a jittered, shimmered glottal flow derivative plus aspiration."""
    n = timeline.voicing.size
    times, semitones = timeline.pitch_points
    contour = np.interp(np.arange(n), times, semitones)
    seconds = np.arange(n) / sample_rate
    contour += prosody.tremor * np.sin(2 * np.pi * rng.uniform(5, 7) * seconds + rng.uniform(0, 2 * np.pi))
    f0 = voice.f0 * 2 ** (contour / 12)
    cycles = np.cumsum(f0 / sample_rate).astype(int)
    periods = 1 + prosody.jitter * rng.standard_normal(cycles[-1] + 2)
    phase = np.cumsum(f0 * periods[cycles] / sample_rate)
    cycle, p = phase.astype(int), phase % 1.0
    amplitude = 1 + prosody.shimmer * rng.standard_normal(cycle[-1] + 1)

    # Rosenberg-style pulse: the glottis opens (u 0-1) and closes (u 1-2) along raised
    # cosines, then stays closed (u = 2) for the rest of the cycle.
    open_quotient, skew = min(prosody.open_quotient + voice.open_quotient, 0.9), prosody.skew
    opening, closing = open_quotient * skew / (1 + skew), open_quotient / (1 + skew)
    rising = p < opening
    u = np.where(rising, p / opening, np.minimum(1 + (p - opening) / closing, 2.0))
    flow = 0.5 - 0.5 * np.cos(np.pi * u)
    derivative = np.sin(np.pi * u) * np.where(rising, np.pi / (2 * opening), np.pi / (2 * closing))

    breath = (voice.breathiness + prosody.breath) * np.sqrt(np.mean(derivative**2))
    aspiration = breath * (0.3 + flow) * rng.standard_normal(n)
    return timeline.voicing * amplitude[cycle] * (derivative + aspiration)


def vocal_tract(formants: np.ndarray, bandwidths: np.ndarray, tilt: float, sample_rate: int, n_fft: int) -> np.ndarray:
    """Complex frequency response per STFT frame of cascaded two-pole formant resonators
    (unit gain at 0 Hz, minimum phase), a 60 Hz high-pass and a spectral tilt around 1 kHz;
    formants and bandwidths are (frames, formants) arrays in Hz; formants too close to the
    Nyquist frequency are left out."""
    radius = np.where(formants < 0.45 * sample_rate, np.exp(-np.pi * bandwidths / sample_rate), 0.0)
    a1 = (-2 * radius * np.cos(2 * np.pi * formants / sample_rate)).astype(np.float32)
    a2 = (radius**2).astype(np.float32)
    dc_gain = 1 + a1 + a2
    omega = 2 * np.pi * np.arange(n_fft // 2 + 1, dtype=np.float32) / n_fft
    cos1, sin1, cos2, sin2 = np.cos(omega), np.sin(omega), np.cos(2 * omega), np.sin(2 * omega)
    denominator = np.ones((len(formants), omega.size), np.complex64)
    factor = np.empty_like(denominator)
    for k in range(formants.shape[1]):  # 1 + a1 z^-1 + a2 z^-2 at z = e^(j omega), over the DC gain
        factor.real = (1 + a1[:, k, None] * cos1 + a2[:, k, None] * cos2) / dc_gain[:, k, None]
        factor.imag = -(a1[:, k, None] * sin1 + a2[:, k, None] * sin2) / dc_gain[:, k, None]
        denominator *= factor
    f = omega * sample_rate / (2 * np.pi)
    highpass = 1j * f / (1j * f + 60)
    tilt_gain = (np.maximum(f, 250) / 1000) ** (tilt / (20 * np.log10(2)))
    return (highpass * tilt_gain).astype(np.complex64) / denominator


def frication_noise(timeline: Timeline, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Band-passed noise bursts and frication, each at its consonant's level (re the vowel)."""
    noise = np.zeros(timeline.voicing.size)
    for span, consonant in timeline.frication:
        burst = scipy.signal.sosfilt(
            _band_pass(consonant.band, sample_rate), rng.standard_normal(span.stop - span.start)
        )
        x = np.linspace(0, 1, burst.size)
        shape = np.exp(-3 * x) if consonant.closure else np.sin(np.pi * x) ** 0.5
        noise[span] = consonant.level * shape * burst / (np.std(burst) + 1e-12)
    return noise


@functools.cache
def _band_pass(band: tuple[float, float], sample_rate: int) -> np.ndarray:
    high = min(band[1], 0.47 * sample_rate)
    return scipy.signal.butter(2, (min(band[0], 0.5 * high), high), btype="bandpass", fs=sample_rate, output="sos")


def istft(spectra: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of the spectra :func:`synthesize` filters (square-root Hann windows, hop
    n_fft/4, frame k centred on sample k * hop - n_fft / 2)."""
    frames = scipy.fft.irfft(spectra, n=n_fft, axis=-1) * window
    out = np.zeros((len(frames) + n_fft // hop) * hop)
    for k in range(n_fft // hop):
        out[k * hop : k * hop + len(frames) * hop] += frames[:, k * hop : (k + 1) * hop].ravel()
    return out[n_fft : n_fft + length] / (n_fft / hop / 2)


def synthesize(voice: Voice, prosody: Prosody, syllables, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """One utterance as float32 samples in (-1, 1)."""
    timeline = plan_utterance(syllables, voice, prosody, rng, sample_rate)
    n = timeline.voicing.size
    excitation = glottal_source(timeline, voice, prosody, rng, sample_rate)

    n_fft = 2 ** int(round(np.log2(0.064 * sample_rate)))
    hop = n_fft // 4
    window = np.sqrt(np.hanning(n_fft + 1)[:-1])
    # frame k centred on sample k * hop - n_fft / 2, as istft expects
    spectra = short_time_spectra(np.pad(excitation, n_fft // 2), window=window, hop_length=hop)
    times, targets = timeline.formant_points
    centres = np.arange(spectra.shape[0]) * hop - n_fft // 2
    formants = np.stack([np.interp(centres, times, track) for track in targets.T], axis=1)
    bandwidths = (50 + 0.06 * formants) * voice.bandwidth * (1 + 0.6 * prosody.breath)
    spectra *= vocal_tract(formants, bandwidths, SOURCE_TILT + voice.tilt + prosody.tilt, sample_rate, n_fft)
    voiced = istft(spectra, n_fft, hop, window, n)

    vowel_rms = np.sqrt(np.sum(voiced**2) / np.sum(timeline.voicing**2))
    speech = voiced + vowel_rms * frication_noise(timeline, rng, sample_rate)
    level = 10 ** ((REFERENCE_RMS_DB + voice.gain + prosody.loudness) / 20)
    speech *= level / np.sqrt(np.mean(speech[timeline.speech] ** 2))
    speech += NOISE_FLOOR * rng.standard_normal(n)
    return (0.95 * np.tanh(speech / 0.95)).astype(np.float32)  # a soft limiter, as a loud take might get


def generate_demo_corpus(out_dir, *, sample_rate: int = 16000, n_speakers: int = 6, seed: int = 0) -> list[Path]:
    """Write the demo corpus as WAV files under out_dir and return their paths, sorted.

    Every take has its own random stream, so the takes are made on every core at once (forked processes, which
    inherit the imported libraries) and the files are the same bytes whatever the order."""
    if not 1 <= n_speakers <= 99:
        raise ValueError(f"n_speakers must be 1-99 (two-digit RAVDESS actor ids), got {n_speakers}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    out_dir = Path(out_dir)
    takes = []
    for actor in range(1, n_speakers + 1):
        (out_dir / f"Actor_{actor:02d}").mkdir(parents=True, exist_ok=True)
        for code, emotion in enumerate(RAVDESS_EMOTIONS, start=1):
            for intensity in (1,) if emotion == "neutral" else (1, 2):
                for statement in STATEMENTS:
                    for repetition in (1, 2):
                        takes.append((out_dir, sample_rate, seed, actor, code, intensity, statement, repetition))
    workers = min(usable_cores(), len(takes))
    if workers < 2:
        return sorted(map(_write_take, takes))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return sorted(pool.imap_unordered(_write_take, takes, chunksize=8))


def _write_take(take: tuple) -> Path:
    """One take of the demo corpus, written: the file's path."""
    out_dir, sample_rate, seed, actor, code, intensity, statement, repetition = take
    voice = voice_for(actor, seed)
    portrayal = portrayal_for(actor, RAVDESS_EMOTIONS[code - 1], intensity, voice, seed)
    rng = np.random.default_rng([seed, TAKE, actor, code, intensity, statement, repetition])
    samples = synthesize(voice, vary_take(portrayal, rng), STATEMENTS[statement], rng, sample_rate)
    name = f"03-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.wav"
    return write_wav(out_dir / f"Actor_{actor:02d}" / name, samples, sample_rate)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM mono WAV atomically: to a temporary name, then renamed into place."""
    buffer = io.BytesIO()  # libsndfile writes a file in many small pieces; one write is much faster
    sf.write(buffer, samples, sample_rate, subtype="PCM_16", format="WAV")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)
    return path
