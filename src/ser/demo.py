"""A small synthetic corpus of "acted emotional speech", the project's offline default data.

It is not real speech. Each file is a source-filter imitation of a spoken sentence: a
glottal pulse train following a pitch contour, shaped by formant resonators that move
through the vowels of one of two sentences, syllable by syllable, with aspiration noise.
Speakers differ in pitch, vocal-tract length (formant scale), speaking rate and
breathiness; emotions differ in prosody as acted speech does: pitch level and range,
tempo, loudness, spectral tilt and voice quality (jitter, breathiness). Strong intensity
exaggerates an emotion's departure from neutral. Files follow the RAVDESS naming
convention, so the whole pipeline runs on them unchanged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

EMOTION_CODES = {
    "neutral": 1, "calm": 2, "happy": 3, "sad": 4, "angry": 5, "fearful": 6, "disgust": 7, "surprised": 8,
}

# Vowel formants F1-F3 in Hz for an adult male vocal tract (textbook averages).
VOWELS = {
    "i": (280, 2250, 2900), "I": (400, 1920, 2560), "e": (530, 1840, 2480), "a": (730, 1090, 2440),
    "o": (570, 840, 2410), "u": (310, 870, 2250), "@": (500, 1500, 2500), "ai": (680, 1500, 2450),
}
# Vowel nuclei of the two RAVDESS statements: "Kids are talking by the door",
# "Dogs are sitting by the door".
STATEMENTS = {1: ("I", "a", "o", "I", "ai", "@", "o"), 2: ("o", "a", "I", "I", "ai", "@", "o")}


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker."""

    f0: float  # Hz
    formant_scale: float  # >1 means a shorter vocal tract
    rate: float  # syllables per second
    breathiness: float


@dataclass(frozen=True)
class Prosody:
    """An emotion's departure from neutral speech."""

    pitch_shift: float  # semitones
    pitch_range: float  # semitones of accent excursion
    tempo: float  # factor on speaking rate
    loudness: float  # dB
    tilt: float  # >0 brighter, <0 darker
    jitter: float  # relative f0 perturbation
    breath: float  # added aspiration
    rise: float  # semitones of final rise (question-like)


NEUTRAL = Prosody(0.0, 2.0, 1.0, 0.0, 0.0, 0.004, 0.0, 0.0)
PROSODY = {
    "neutral": NEUTRAL,
    "calm": Prosody(-1.0, 1.2, 0.85, -4.0, -0.35, 0.003, 0.02, 0.0),
    "happy": Prosody(3.5, 5.0, 1.12, 3.0, 0.3, 0.006, 0.0, 1.0),
    "sad": Prosody(-2.0, 0.8, 0.72, -6.0, -0.5, 0.008, 0.05, -1.0),
    "angry": Prosody(2.5, 4.0, 1.18, 7.0, 0.65, 0.01, 0.0, -0.5),
    "fearful": Prosody(6.0, 2.5, 1.3, 0.0, 0.1, 0.03, 0.04, 0.5),
    "disgust": Prosody(-1.5, 3.0, 0.8, 1.0, 0.2, 0.02, 0.03, -1.5),
    "surprised": Prosody(5.0, 6.0, 1.0, 3.0, 0.35, 0.006, 0.01, 5.0),
}


def voice_for(actor: int, seed: int) -> Voice:
    """The fixed voice of one synthetic actor (odd ids male, even female, as in RAVDESS)."""
    rng = np.random.default_rng([seed, actor, 0])
    male = actor % 2 == 1
    return Voice(
        f0=rng.uniform(95, 140) if male else rng.uniform(175, 235),
        formant_scale=rng.uniform(0.92, 1.02) if male else rng.uniform(1.1, 1.2),
        rate=rng.uniform(3.6, 5.0),
        breathiness=rng.uniform(0.01, 0.05),
    )


def prosody_for(emotion: str, intensity: int) -> Prosody:
    """The emotion's prosody; strong intensity (2) exaggerates its departure from neutral."""
    target = PROSODY[emotion]
    gain = 1.6 if intensity == 2 else 1.0
    values = [n + gain * (t - n) for n, t in zip(vars(NEUTRAL).values(), vars(target).values())]
    return Prosody(*values)


def synthesize(voice: Voice, prosody: Prosody, vowels: tuple[str, ...], rng: np.random.Generator,
               sample_rate: int) -> np.ndarray:
    """One utterance as float32 samples in [-1, 1]."""
    rate = voice.rate * prosody.tempo * rng.uniform(0.95, 1.05)
    lengths = rng.uniform(0.75, 1.25, len(vowels)) / rate
    bounds = np.concatenate([[0], np.cumsum(np.round(lengths * sample_rate).astype(int))])
    n = bounds[-1]
    t = np.arange(n) / n

    # Pitch: declination, one accent per syllable, an optional final rise, jitter.
    accents = rng.uniform(0.3, 1.0, len(vowels))
    accent_curve = np.concatenate([a * np.sin(np.linspace(0, np.pi, b - c)) for a, c, b in zip(accents, bounds, bounds[1:])])
    semitones = (prosody.pitch_shift - 1.5 * t + prosody.pitch_range * accent_curve
                 + prosody.rise * np.clip((t - 0.75) / 0.25, 0, 1) ** 2)
    jitter = scipy.signal.lfilter([0.02], [1, -0.98], rng.standard_normal(n)) * prosody.jitter * 10
    f0 = voice.f0 * 2 ** (semitones / 12) * (1 + jitter)
    phase = np.cumsum(f0 / sample_rate) % 1.0
    source = 2 * phase - 1  # sawtooth: every harmonic, falling 6 dB/octave

    # Spectral tilt: one-pole pre-emphasis (bright) or smoothing (dark).
    coefficient = float(np.clip(0.5 * prosody.tilt, -0.6, 0.6))
    source = scipy.signal.lfilter([1, -coefficient], [1], source) if coefficient > 0 else \
        scipy.signal.lfilter([1 + coefficient], [1, coefficient], source)
    noise = rng.standard_normal(n) * (voice.breathiness + prosody.breath)
    excitation = source + noise

    # Formants: cascaded two-pole resonators, held per syllable with state carried over.
    output = np.empty(n)
    states = [np.zeros(2) for _ in range(3)]
    for vowel, start, stop in zip(vowels, bounds, bounds[1:]):
        segment = excitation[start:stop]
        for k, formant in enumerate(VOWELS[vowel]):
            frequency = formant * voice.formant_scale * rng.uniform(0.97, 1.03)
            bandwidth = 60 + 0.06 * frequency
            radius = np.exp(-np.pi * bandwidth / sample_rate)
            a = [1, -2 * radius * np.cos(2 * np.pi * frequency / sample_rate), radius ** 2]
            segment, states[k] = scipy.signal.lfilter([1 - radius], a, segment, zi=states[k])
        output[start:stop] = segment

    # Syllable envelopes with a short consonant gap, then loudness.
    envelope = np.concatenate([np.hanning(b - c) ** 0.6 for c, b in zip(bounds, bounds[1:])])
    speech = output * envelope
    speech *= 0.08 * 10 ** (prosody.loudness / 20) / (np.sqrt(np.mean(speech ** 2)) + 1e-12)
    pad = lambda: np.zeros(int(rng.uniform(0.15, 0.3) * sample_rate))  # noqa: E731
    padded = np.concatenate([pad(), speech, pad()])
    padded += rng.standard_normal(padded.size) * 2e-4  # room noise floor
    return np.clip(padded, -0.99, 0.99).astype(np.float32)


def generate_demo_corpus(out_dir, *, sample_rate: int = 16000, n_speakers: int = 6, seed: int = 0) -> list[Path]:
    """Write the demo corpus as WAV files under out_dir and return their paths, sorted."""
    out_dir = Path(out_dir)
    paths = []
    for actor in range(1, n_speakers + 1):
        voice = voice_for(actor, seed)
        folder = out_dir / f"Actor_{actor:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for emotion, code in EMOTION_CODES.items():
            for intensity in (1,) if emotion == "neutral" else (1, 2):
                prosody = prosody_for(emotion, intensity)
                for statement in (1, 2):
                    for repetition in (1, 2):
                        rng = np.random.default_rng([seed, actor, code, intensity, statement, repetition])
                        samples = synthesize(voice, prosody, STATEMENTS[statement], rng, sample_rate)
                        name = f"03-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.wav"
                        paths.append(_write_wav(folder / name, samples, sample_rate))
    return sorted(paths)


def _write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, samples, sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
    return path
