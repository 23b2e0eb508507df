"""Long recordings built from a corpus's clips, with their truth: what the timeline is scored on.

Each recording is one speaker's. It is a sequence of *episodes*, each of one emotion: several clips of that
speaker and emotion back to back, every clip trimmed of its own leading and trailing silence, with short pauses
between them (``pause_seconds``). Non-speech gaps (``gap_seconds``) come before each episode and at the end, and
low noise (``noise_dbfs``) lies under the whole recording. With ``channel`` set (``"phone 3400"``, ``"noise 10"``,
``"reverb 0.5"``: :mod:`ser.features.augment`), the finished recording then passes through that telephone line,
noise (its SNR against the whole recording's power, gaps included) or room; the truth stays as built.

The truth labels speech (:func:`speech_runs`): within a clip, its frames within :data:`TRIM_DB` dB of its loudest;
silences shorter than :data:`BRIDGE` seconds, inside a clip or between the clips of an episode, belong to the
speech around them (a listener hears one emotional episode there, and a speech detector's hangover bridges pauses
that short). So an episode is usually one truth segment, from its first clip's start to its last clip's end; a
longer silence inside a clip (a held breath, a click at its very end after a silence) is left unlabelled, as the
gaps between episodes are.

Episodes go through the speaker's emotions in a shuffled order, reshuffled when all have had one, never the same
emotion twice in a row (when the speaker has two); within an emotion the clips are used in a shuffled order before
any repeats. Recording ``i`` is drawn from its own random stream (``seed``, ``i``), so it is the same however many
are built, and the recordings are built one at a time (:func:`build_recordings` is a generator): memory holds one
recording and a few hundred trimmed clips, however many recordings are asked for.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser.config import TimelineEvalParams
from ser.corpus.audio import load_audio
from ser.corpus.catalog import locate, read_catalog
from ser.dsp.frames import frame_signal
from ser.errors import SerError
from ser.features.augment import Perturbation, perturb

TRIM_DB = 35.0  # a clip's speech: its 25 ms frames within this many dB of its loudest
TRIM_FRAME, TRIM_HOP = 0.025, 0.010  # seconds
BRIDGE = 0.3  # seconds: a shorter silence between speech belongs to it
FADE = 0.005  # seconds of raised-cosine fade at both ends of a trimmed clip, so that joins do not click
CACHED_CLIPS = 512  # trimmed clips kept in memory while building


@dataclass(frozen=True)
class Clip:
    """One file of the catalogue: where it is and whose emotion it holds."""

    file: str
    path: str
    speaker: str
    emotion: str


@dataclass(frozen=True)
class TruthSegment:
    """An episode: speech of one emotion from ``start`` to ``end`` seconds."""

    start: float
    end: float
    emotion: str


@dataclass(frozen=True)
class Placement:
    """A trimmed clip placed in a recording from ``start`` to ``end`` seconds."""

    file: str
    start: float
    end: float


@dataclass
class Recording:
    """A long recording of one speaker: its samples and the truth segments of its episodes."""

    name: str
    speaker: str
    sample_rate: int
    samples: np.ndarray
    truth: list[TruthSegment] = field(default_factory=list)
    clips: list[Placement] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def split_clips(
    catalog: str | Path, split: str | Path, which: str = "test", origin: str | Path | None = None
) -> list[Clip]:
    """The clips of the catalogue that the split file (``file``, ``set`` columns) puts in ``which`` set, each ``path``
    where it opens (``origin``: see :func:`ser.corpus.catalog.locate`)."""
    with open(split, newline="", encoding="utf-8") as handle:
        chosen = {row["file"] for row in csv.DictReader(handle) if row.get("set") == which}
    rows = read_catalog(catalog, ("file", "path", "speaker", "emotion"))
    clips = [Clip(**{**row, "path": str(locate(row["path"], origin))}) for row in rows if row["file"] in chosen]
    if not clips:
        raise SerError(f"{split} puts no file of {catalog} in the {which} set; re-run the split stage")
    return clips


def speech_runs(
    samples: np.ndarray, sample_rate: int, *, top_db: float = TRIM_DB, bridge: float = BRIDGE
) -> list[tuple[int, int]]:
    """``[(start, stop)]`` in samples: runs of frames whose energy is within ``top_db`` dB of the loudest frame's,
    joined across silences shorter than ``bridge`` seconds.

    The first run's start and the last run's stop trim a clip of its leading and trailing silence: acted corpora
    leave about 1 s at each end (RAVDESS), which stitched clips would otherwise hold as silence inside an episode.
    """
    frame, hop = round(TRIM_FRAME * sample_rate), round(TRIM_HOP * sample_rate)
    if len(samples) < frame:
        return [(0, len(samples))]
    frames = frame_signal(samples, frame_length=frame, hop_length=hop)
    energy = np.mean(np.square(frames, dtype=np.float64), axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-top_db / 10))
    breaks = np.flatnonzero(np.diff(loud) * hop >= bridge * sample_rate + hop)
    firsts, lasts = loud[np.r_[0, breaks + 1]], loud[np.r_[breaks, len(loud) - 1]]
    return [(int(first) * hop, min(len(samples), int(last) * hop + hop)) for first, last in zip(firsts, lasts)]


def _faded(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    length = min(round(FADE * sample_rate), len(samples) // 2)
    if length == 0:
        return samples
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)).astype(np.float32)
    faded = samples.astype(np.float32, copy=True)
    faded[:length] *= ramp
    faded[-length:] *= ramp[::-1]
    return faded


def build_recordings(
    clips: Sequence[Clip],
    settings: TimelineEvalParams,
    sample_rate: int,
    load: Callable[[str], np.ndarray] | None = None,
) -> Iterator[Recording]:
    """``settings.recordings`` recordings, one at a time; recording ``i`` is of the ``i % n``-th of the ``n`` speakers
    (in sorted order) of ``clips``.

    ``load`` decodes a path to samples at ``sample_rate`` (default: :func:`ser.corpus.audio.load_audio`).
    """
    by_speaker: dict[str, dict[str, list[Clip]]] = defaultdict(lambda: defaultdict(list))
    for clip in sorted(clips, key=lambda clip: clip.file):
        by_speaker[clip.speaker][clip.emotion].append(clip)
    if not by_speaker:
        raise ValueError("no clips to build recordings from")
    speakers = sorted(by_speaker)
    decode = load or (lambda path: load_audio(path, sample_rate))

    @functools.lru_cache(maxsize=CACHED_CLIPS)
    def trimmed(path: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The clip from its first speech to its last, and its runs of speech (in samples from its start)."""
        samples = decode(path)
        runs = speech_runs(samples, sample_rate)
        start = runs[0][0]
        return _faded(samples[start : runs[-1][1]], sample_rate), [(a - start, b - start) for a, b in runs]

    channel = Perturbation.parse(settings.channel) if settings.channel else None
    for index in range(settings.recordings):
        speaker = speakers[index % len(speakers)]
        name = f"{speaker}_{index:03d}"
        recording = _recording(
            name,
            speaker,
            by_speaker[speaker],
            settings,
            sample_rate,
            trimmed,
            np.random.default_rng([settings.seed, index]),
        )
        if channel:
            recording.samples = perturb(
                recording.samples, channel, sample_rate, speaker=speaker, file=name, seed=settings.seed
            )
        yield recording


class _Shuffled:
    """Items in a random order, reshuffled each time all have been drawn, never the same item twice in a row."""

    def __init__(self, items: list, rng: np.random.Generator):
        self.items, self.rng, self.order, self.last = items, rng, [], None

    def draw(self):
        if not self.order:
            self.order = [self.items[i] for i in self.rng.permutation(len(self.items))]
            if len(self.order) > 1 and self.order[0] == self.last:
                self.order.append(self.order.pop(0))
        self.last = self.order.pop(0)
        return self.last


def _recording(
    name: str,
    speaker: str,
    by_emotion: dict[str, list[Clip]],
    settings: TimelineEvalParams,
    sample_rate: int,
    trimmed: Callable[[str], tuple[np.ndarray, list[tuple[int, int]]]],
    rng: np.random.Generator,
) -> Recording:
    emotions = _Shuffled(sorted(by_emotion), rng)
    takes = {emotion: _Shuffled(by_emotion[emotion], rng) for emotion in by_emotion}

    def uniform(bounds: tuple[float, float]) -> float:
        return float(rng.uniform(*bounds))

    placed: list[tuple[int, Clip, np.ndarray]] = []  # (first sample, clip, its trimmed samples)
    truth: list[TruthSegment] = []
    cursor = round(uniform(settings.gap_seconds) * sample_rate)
    end_gap = round(settings.gap_seconds[0] * sample_rate)
    while True:
        emotion, target = emotions.draw(), uniform(settings.episode_seconds) * sample_rate
        episode, speech, length = [], [], 0
        while length < target:
            if episode:
                length += round(uniform(settings.pause_seconds) * sample_rate)
            clip = takes[emotion].draw()
            samples, runs = trimmed(clip.path)
            episode.append((cursor + length, clip, samples))
            speech += [(cursor + length + a, cursor + length + b) for a, b in runs]
            length += len(samples)
        if truth and cursor + length + end_gap > settings.seconds * sample_rate:
            break
        placed += episode
        truth += [TruthSegment(a / sample_rate, b / sample_rate, emotion) for a, b in _bridged(speech, sample_rate)]
        cursor += length + round(uniform(settings.gap_seconds) * sample_rate)
    total = max(round(settings.seconds * sample_rate), round(truth[-1].end * sample_rate) + end_gap)
    audio = rng.normal(0.0, 10 ** (settings.noise_dbfs / 20), total).astype(np.float32)
    for start, _, samples in placed:
        audio[start : start + len(samples)] += samples
    return Recording(
        name,
        speaker,
        sample_rate,
        audio,
        truth,
        [
            Placement(clip.file, start / sample_rate, (start + len(samples)) / sample_rate)
            for start, clip, samples in placed
        ],
    )


def _bridged(runs: list[tuple[int, int]], sample_rate: int) -> list[tuple[int, int]]:
    """``runs`` (in order) joined across silences shorter than :data:`BRIDGE`."""
    joined = [runs[0]]
    for start, stop in runs[1:]:
        if start - joined[-1][1] < BRIDGE * sample_rate:
            joined[-1] = (joined[-1][0], stop)
        else:
            joined.append((start, stop))
    return joined
