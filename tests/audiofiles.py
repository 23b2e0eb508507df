"""Audio files for tests (and benchmarks): copies of a few files of a RAVDESS-named corpus, files spread over a
corpus, tones, and files that are not usable audio."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

# Two speakers x two emotions (neutral 01, calm 02), as named in RAVDESS and the synthetic speech16k corpus.
GOOD_RAVDESS = (
    "Actor_01/03-01-01-01-01-01-01.wav",
    "Actor_01/03-01-02-01-01-01-01.wav",
    "Actor_02/03-01-01-01-01-01-02.wav",
    "Actor_02/03-01-02-01-01-01-02.wav",
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


def spread_files(root: Path, count: int) -> list[Path]:
    """``count`` .wav files spread evenly over the sorted .wav files below ``root``."""
    files = sorted(root.rglob("*.wav"))
    if len(files) < count:
        raise ValueError(f"{root} holds {len(files)} .wav files, fewer than the {count} asked for")
    return files[:: len(files) // count][:count]


def tone(
    seconds: float = 1.0, sample_rate: int = 16000, frequency: float = 440.0, channels: int = 1, amplitude: float = 0.5
) -> np.ndarray:
    """A sine tone, shape (frames, channels); channel k is scaled by 1/(k+1) so channels differ."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = amplitude * np.sin(2 * np.pi * frequency * t)
    return np.stack([mono / (k + 1) for k in range(channels)], axis=1)


def chords(seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like sound: piano-like triads with their harmonics, each decaying over 0.5-1 s; peak 0.3."""
    out = np.zeros(int(seconds * sample_rate), np.float32)
    position = 0
    while position < len(out):
        length = int(rng.uniform(0.5, 1.0) * sample_rate)
        t = np.arange(length) / sample_rate
        root = 220 * 2 ** (rng.integers(0, 12) / 12)
        chord = sum(np.sin(2 * np.pi * root * ratio * k * t) / k**2 for ratio in (1, 1.26, 1.5) for k in (1, 2, 3))
        piece = (chord * np.exp(-3 * t)).astype(np.float32)[: len(out) - position]
        out[position : position + len(piece)] += piece
        position += length
    return 0.3 * out / np.abs(out).max()


def write_tone(
    path: Path, *, sample_rate: int = 16000, subtype: str | None = None, fmt: str | None = None, **tone_args
) -> Path:
    """Write a tone file with soundfile (format from the suffix unless ``fmt`` is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(sample_rate=sample_rate, **tone_args), sample_rate, subtype=subtype, format=fmt)
    return path


BAD_AUDIO = (
    "empty",
    "not audio",
    "cut header",
    "silent",
    "shorter than a frame",
    "NaN samples",
    "absurd header",
    "too long",
)
LONG_SECONDS = 301  # "too long": past audio.max_seconds' default (300) and ser serve's (120)


def write_absurd_header_flac(path: Path, samples: int = 2**36 - 1) -> Path:
    """A short FLAC (mono, 0.25 s) whose STREAMINFO claims ``samples`` samples; by default 2**36 - 1, which decoded
    whole would need 256 GiB."""
    write_tone(path, seconds=0.25, fmt="FLAC")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first: its 36-bit sample count ends at byte 26
    packed = int.from_bytes(data[18:26], "big")
    data[18:26] = (packed & ~(2**36 - 1) | samples).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def write_long_flac(path: Path, seconds: float, sample_rate: int = 8000) -> Path:
    """A FLAC of ``seconds`` of a near-constant signal (a quiet tone in its first second, then a constant):
    hours of it fit in kilobytes. Written block by block, in little memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = np.full(sample_rate * 60, 0.01, dtype=np.float32)
    with sf.SoundFile(path, "w", sample_rate, 1, format="FLAC", subtype="PCM_16") as out:
        out.write(tone(sample_rate=sample_rate, amplitude=0.1)[:, 0].astype(np.float32))
        left = int(seconds * sample_rate) - sample_rate
        while left > 0:
            out.write(block[:left])
            left -= len(block)
    return path


def write_bad_audio(path: Path, kind: str, good: Path) -> Path:
    """Write a file of one of the :data:`BAD_AUDIO` kinds at ``path``; ``good`` is a WAV file to cut a header from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not audio":
        path.write_text("This is a note, not a recording.\n" * 200)
    elif kind == "cut header":
        path.write_bytes(good.read_bytes()[:30])  # cut inside the 44-byte RIFF/fmt header
    elif kind == "silent":
        write_tone(path, amplitude=0.0)
    elif kind == "shorter than a frame":
        write_tone(path, seconds=0.01)  # 160 samples at 16 kHz
    elif kind == "NaN samples":
        samples = tone()
        samples[100] = np.nan
        sf.write(path, samples, 16000, subtype="FLOAT")
    elif kind == "absurd header":
        write_absurd_header_flac(path)
    elif kind == "too long":
        write_long_flac(path, LONG_SECONDS)
    else:
        raise ValueError(f"unknown kind of bad audio {kind!r}; known: {', '.join(BAD_AUDIO)}")
    return path


def bad_audio_files(folder: Path, good: Path) -> dict[str, Path]:
    """One file of each :data:`BAD_AUDIO` kind in ``folder``, named after its kind: kind -> path."""
    return {
        kind: write_bad_audio(folder / f"{kind.replace(' ', '_')}{SUFFIXES.get(kind, '.wav')}", kind, good)
        for kind in BAD_AUDIO
    }


SUFFIXES = {"absurd header": ".flac", "too long": ".flac"}


def write_gsm_wav(path: Path, speech: Path) -> Path:
    """The recording ``speech`` as a GSM 6.10 WAV at 8 kHz (a telephony format libsndfile cannot seek in), as
    ``sox speech.wav -e gsm-full-rate -r 8000 gsm.wav`` writes it."""
    import soxr

    samples, rate = sf.read(speech, dtype="float32", always_2d=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, soxr.resample(samples.mean(axis=1), rate, 8000), 8000, subtype="GSM610", format="WAV")
    return path


def write_loud_wav(path: Path, peak: float) -> Path:
    """A float WAV of a tone whose peak is ``peak`` (1e20, 3e38: finite, but far beyond full scale)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (tone(amplitude=1.0) * peak).astype(np.float32), 16000, subtype="FLOAT")
    return path


def write_ghz_wav(path: Path, sample_rate: int = 2_000_000_000) -> Path:
    """A WAV whose header claims ``sample_rate`` Hz (a second of a tone's samples)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(), sample_rate, subtype="PCM_16")
    return path


def deep_folder(root: Path, depth: int) -> Path:
    """``root/d/d/.../d`` ``depth`` folders deep (made level by level: pathlib's ``mkdir(parents=True)`` recurses);
    returns the deepest. Remove it with :func:`remove_tree`: ``shutil.rmtree`` recurses too, and pytest's clean-up
    of old temporary folders would stop at it."""
    folder = str(root)
    os.makedirs(folder, exist_ok=True)
    for _ in range(depth):
        folder = os.path.join(folder, "d")
        os.mkdir(folder)
    return Path(folder)


def remove_tree(root: Path) -> None:
    """Remove the folder ``root`` and everything below it, without recursion (any depth)."""
    pending = [str(root)]
    while pending:
        folder = pending[-1]
        subfolders = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                else:
                    os.unlink(entry.path)
        if subfolders:
            pending += subfolders
        else:
            os.rmdir(folder)
            pending.pop()


def write_conversation(path: Path, clips: list[Path], gap: float = 1.0, sample_rate: int = 16000) -> list[tuple]:
    """The ``clips`` back to back, ``gap`` seconds of silence before each and at the end, as a 16-bit WAV at
    ``sample_rate`` (a long recording; with clips of two speakers, a conversation); each clip's ``(start, end)``
    in seconds."""
    from ser.corpus.audio import load_audio

    silence = np.zeros(int(gap * sample_rate), np.float32)
    parts, spans, position = [], [], 0.0
    for clip in clips:
        samples = load_audio(clip, sample_rate)
        parts += [silence, samples]
        spans.append((position + gap, position + gap + len(samples) / sample_rate))
        position = spans[-1][1]
    parts.append(silence)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.concatenate(parts), sample_rate, subtype="PCM_16")
    return spans
