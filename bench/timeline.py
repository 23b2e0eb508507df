"""Benchmark `ser timeline` as a user meets it: one fresh process over a folder of long recordings, and the peak
memory of a 2-hour recording against a 30 s one's.

    python bench/timeline.py [--model model] [--data ../shared/data/ravdess16k] [--recordings 20] [--hours 2]
                             [--cores N [N ...]] [--json docs/results/timeline_speed.json]

The recordings are built by ser.timeline.recordings from the real files under ``--data`` (RAVDESS names; the timeline
stage's defaults: one speaker each, episodes of one emotion, non-speech gaps) and written as 16-bit WAV to a
temporary folder:

* folders: for each ``--cores`` count, folder_s and real_time_factor: ``ser timeline --format csv`` over a folder of
  ``--recordings`` 30 s recordings, one process, wall seconds from its start to its exit; the factor is seconds of
  audio per wall second, start-up included (``--repeat`` runs, the median); and background_cores: how many cores
  other programs kept busy meanwhile (from /proc/stat);
* rss_30s_mb, rss_long_mb, rss_growth_mb: the peak resident memory of ``ser timeline`` (the kernel's ``ru_maxrss``
  from ``wait4``: the largest of the process and its worker processes) on one 30 s recording and on one of
  ``--hours`` hours (the 30 s recordings back to back, written block by block), and their difference; long_s,
  long_real_time_factor: that long run's wall seconds and factor, long_background_cores as above; on every core
  this process may use.

``--cores N`` runs ``ser timeline`` on N of the cores this process may use (its CPU affinity; ``ser timeline`` starts
a worker per core it may use), so ``--cores 1 2`` measures what labelling a folder on a second core gains (default:
every core); ``--hours 0`` leaves the long recording out.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from common import add_json_output, add_model_and_data, children_cpu_seconds, machine_busy_seconds, report
from ser.config import TimelineEvalParams
from ser.corpus.conventions import CONVENTIONS, UnparsableName
from ser.timeline.recordings import Clip, build_recordings

RATE = 16000
SECONDS = 30


def clips_of(data: Path) -> list[Clip]:
    """Every RAVDESS-named .wav file under ``data`` as a clip."""
    clips = []
    for path in sorted(data.rglob("*.wav")):
        try:
            fields = CONVENTIONS["ravdess"].parse(path)
        except UnparsableName:
            continue
        clips.append(Clip(path.name, str(path), fields["speaker"], fields["emotion"]))
    if not clips:
        raise SystemExit(f"{data} holds no RAVDESS-named .wav files")
    return clips


def write_recordings(clips: list[Clip], count: int, folder: Path) -> float:
    """``count`` 30 s recordings as WAV files in ``folder``; their total seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for recording in build_recordings(clips, TimelineEvalParams(recordings=count, seconds=SECONDS), RATE):
        sf.write(folder / f"{recording.name}.wav", recording.samples, RATE, subtype="PCM_16")
        total += recording.duration
    return total


def write_long(clips: list[Clip], hours: float, path: Path) -> float:
    """One recording of ``hours`` hours: 30 s recordings back to back, written one at a time; its seconds."""
    count = round(hours * 3600 / SECONDS)
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as out:
        for recording in build_recordings(clips, TimelineEvalParams(recordings=count, seconds=SECONDS), RATE):
            out.write(recording.samples)
    return sf.info(str(path)).duration


def timed(command: list[str], cores: set[int] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``command``, a fresh process that must succeed, on ``cores`` if given."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=None if cores is None else lambda: os.sched_setaffinity(0, cores),
    )
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    return wall, usage.ru_maxrss / 1024  # kB on Linux


class Busy:
    """``result``: ``{"background_cores": ...}``, how many cores other programs kept busy during the ``with`` block
    (empty where /proc/stat is not there)."""

    def __enter__(self):
        self.wall, self.busy, self.own = time.perf_counter(), machine_busy_seconds(), children_cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.result = {}
        if self.busy is not None:
            others = (machine_busy_seconds() - self.busy) - (children_cpu_seconds() - self.own)
            self.result["background_cores"] = max(0.0, others / (time.perf_counter() - self.wall))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_data(parser)
    parser.add_argument("--recordings", type=int, default=20, help="30 s recordings in the folder run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the folder (median)")
    parser.add_argument("--hours", type=float, default=2.0, help="length of the long recording (0: none)")
    parser.add_argument(
        "--cores", type=int, nargs="+", help="cores ser timeline may use, a folder run for each (default: all)"
    )
    add_json_output(parser, "timeline_speed")
    args = parser.parse_args()
    clips = clips_of(args.data)
    ser = [sys.executable, "-m", "ser", "timeline", "--model", str(args.model), "--format", "csv"]
    available = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as scratch:
        folder, long = Path(scratch) / "recordings", Path(scratch) / "long.wav"
        audio = write_recordings(clips, args.recordings, folder)
        one = str(sorted(folder.iterdir())[0])
        timed(ser + [one])  # warm the OS file cache and Python's bytecode caches
        result = {"recordings": args.recordings, "audio_s": audio, "repeat": args.repeat, "folders": []}
        for count in args.cores or [len(available)]:
            cores = set(available[:count])
            with Busy() as busy:
                walls = [timed(ser + [str(folder)], cores)[0] for _ in range(args.repeat)]
            run = {"folder_s": statistics.median(walls), "real_time_factor": audio / statistics.median(walls)}
            run.update(busy.result)
            result["folders"].append({"cores": len(cores), **{key: round(v, 4) for key, v in run.items()}})
        if args.hours > 0:
            long_audio = write_long(clips, args.hours, long)
            _, rss_short = timed(ser + [one])
            with Busy() as busy:
                long_s, rss_long = timed(ser + [str(long)])
            result.update(
                long_audio_s=long_audio,
                long_s=long_s,
                long_real_time_factor=long_audio / long_s,
                long_background_cores=busy.result.get("background_cores"),
                rss_30s_mb=rss_short,
                rss_long_mb=rss_long,
                rss_growth_mb=rss_long - rss_short,
            )
    for run in result["folders"]:
        print(
            f"ser timeline on {run['cores']} core(s), folder of {args.recordings} x {SECONDS} s ({audio:.0f} s of "
            f"audio): {run['folder_s']:.2f} s, {run['real_time_factor']:.1f}x real time; cores busy with other "
            f"programs: {run.get('background_cores', float('nan')):.2f}"
        )
    if args.hours > 0:
        print(
            f"one {result['long_audio_s'] / 3600:.2f} h recording: {result['long_s']:.1f} s "
            f"({result['long_real_time_factor']:.1f}x real time); peak RSS {result['rss_long_mb']:.0f} MB against "
            f"{result['rss_30s_mb']:.0f} MB for 30 s ({result['rss_growth_mb']:+.0f} MB)"
        )
    report(result, args.json)


if __name__ == "__main__":
    main()
