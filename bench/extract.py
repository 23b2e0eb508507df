"""Benchmark feature extraction against plain per-file librosa calls and a read+STFT floor, in one run.

    python bench/extract.py --data ../shared/data/ravdess16k [--repeat N] [--incremental 60] [--stage-features notebook]

In-process timings (libraries imported and warmed up first, a fresh feature cache
for each run so nothing is reused):

* ref: the notebook's 180 features the plain way, three librosa calls per file (``librosa.feature.mfcc``,
  ``chroma_stft``, ``melspectrogram``, each taking its own STFT), one process, library defaults
  (BLAS threads as a plain script gets them); ``ref_pinned_s`` is the same with BLAS
  pinned to one thread, as every other timing here is;
* one_worker / all_workers: ``ser.features.batch.extract_features`` (compute, cache, write parquet);
  with ``--incremental K``, also the same call after K files are added to an extracted corpus;
* floor: ``soundfile.read`` plus one numpy STFT per file, one process.

The whisper family (Whisper's encoder) is timed on its own: its seconds per file through
``extract_features`` (one worker) with the default layers, beside its floor, the encoder graph's
pass alone for those layers on the same log-mel frames in one process (``whisper_over_floor``),
and beside the family with the last layer only, one pass through every layer
(``whisper_over_last_layer``); and the family with ``layers: all`` beside that
(``whisper_all_over_last_layer``). These four are timed in turn, round after round
(``WHISPER_ROUNDS``), and each is the least of its rounds: a burst of other programs' work then inflates
neither side of a ratio alone.

Then the real features stage as a subprocess (with params.yaml's features, or the
notebook's with ``--stage-features notebook``): peak RSS (largest process), and with
``--incremental K`` the stage's wall time after K new files are added to an already
extracted corpus, against a full run. Caches and tables go under ``--scratch``
(default: the project's ``.cache/bench``, on the disk where the stage keeps its own
cache). Creating the cache files is part of what is timed: on a disk that has just seen
many thousands of files created and deleted it cost up to 0.25 s per 720 files here
against 0.01 s fresh (docs/extraction.md). ``background_cores`` is how many cores other
programs kept busy meanwhile (from /proc/stat): on a shared machine, trust the ratios
of a run only when it is near 0. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
import yaml
from threadpoolctl import threadpool_limits

from common import add_json_output, machine_busy_seconds, report  # bench/common.py (puts the project on sys.path)
from ser.config import FeatureParams
from ser.corpus.audio import load_audio
from ser.features import whisper
from ser.features.batch import extract_features, resolve_workers
from tests.featuresets import NOTEBOOK_FEATURES

PROJECT = Path(__file__).resolve().parents[1]
WHISPER = FeatureParams(families=("whisper",), workers=1)  # with the default layers
LAST_LAYER = FeatureParams(families=("whisper",), workers=1, whisper=replace(WHISPER.whisper, layers=(6,)))
ALL_LAYERS = FeatureParams(families=("whisper",), workers=1, whisper=replace(WHISPER.whisper, layers="all"))
WHISPER_FILES = 60  # the encoder is the slowest family: timed on this many files
WHISPER_ROUNDS = 5  # its timings are each the least of this many rounds, taken in turn
MEASURE_CHILD = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    "sys.exit(code)\n"
)


def catalog_rows(data: Path, repeat: int) -> list[dict]:
    """Manifest-like rows; each replicate gets its own content key so nothing is shared."""
    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return [
        {
            "file": f"{r}/{p.name}",
            "path": str(p),
            "speaker": "00",
            "emotion": "unknown",
            "sha256": f"{digests[p][:56]}{r:08d}",
        }
        for r in range(repeat)
        for p in files
    ]


def notebook_way(paths: list[str]) -> None:
    for path in paths:
        samples, rate = sf.read(path, dtype="float32")
        np.mean(librosa.feature.mfcc(y=samples, sr=rate, n_mfcc=40).T, axis=0)
        np.mean(librosa.feature.chroma_stft(y=samples, sr=rate).T, axis=0)
        np.mean(librosa.feature.melspectrogram(y=samples, sr=rate).T, axis=0)


def floor(paths: list[str], n_fft: int = 2048, hop: int = 512) -> None:
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    for path in paths:
        samples, _ = sf.read(path, dtype="float32")
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(samples, n_fft // 2), n_fft)[::hop]
        np.abs(np.fft.rfft(frames * window, axis=1)) ** 2


def own_cpu_seconds() -> float:
    """CPU seconds of this process and the child processes it has waited for."""
    return sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def project_extract(rows: list[dict], workers: int, scratch: Path, cache: Path | None = None) -> float:
    """Seconds to extract ``rows`` into a parquet file, with ``cache`` or else a fresh, empty one.

    Only the ``extract_features`` call is timed, not the set-up or the removal of the fresh cache.
    """
    with tempfile.TemporaryDirectory(dir=scratch) as fresh:
        return timed(
            extract_features,
            rows,
            replace(NOTEBOOK_FEATURES, workers=workers),
            16000,
            Path(fresh) / "out.parquet",
            cache or Path(fresh) / "cache",
            workers,
        )


def whisper_costs(rows: list[dict], scratch: Path) -> dict:
    """Seconds per file of the whisper family with the default layers (one worker), of the encoder's pass alone
    for those layers (its floor), of the family with the last layer only (a pass through every layer, one layer
    summarised) and of the family with every layer."""
    sample = rows[:WHISPER_FILES]
    mels = [whisper.log_mel(load_audio(row["path"], 16000), padded=WHISPER.whisper.padded) for row in sample]
    for params in (WHISPER, LAST_LAYER, ALL_LAYERS):  # build the graphs and warm up outside the timings
        whisper.encoder(params.whisper).encode(mels[0])
    encoder = whisper.encoder(WHISPER.whisper)

    def family(params: FeatureParams) -> float:
        with tempfile.TemporaryDirectory(dir=scratch) as fresh:
            return timed(extract_features, sample, params, 16000, Path(fresh) / "out.parquet", Path(fresh) / "cache", 1)

    rounds = [
        (timed(lambda: [encoder.encode(mel) for mel in mels]), family(WHISPER), family(LAST_LAYER), family(ALL_LAYERS))
        for _ in range(WHISPER_ROUNDS)
    ]
    floor_s, family_s, last_s, all_s = (min(times) for times in zip(*rounds))
    return {
        "whisper_files": len(sample),
        "whisper_layers": list(encoder.layers),
        "whisper_per_file_s": family_s / len(sample),
        "whisper_floor_per_file_s": floor_s / len(sample),
        "whisper_over_floor": family_s / floor_s,
        "whisper_last_layer_per_file_s": last_s / len(sample),
        "whisper_over_last_layer": family_s / last_s,
        "whisper_all_layers_per_file_s": all_s / len(sample),
        "whisper_all_over_last_layer": all_s / last_s,
    }


def run_stage(rows: list[dict], scratch: Path, cache: Path, name: str, notebook: bool) -> tuple[float, float]:
    """Run stages/features.py in a subprocess; return (wall seconds, peak RSS MB of its largest process)."""
    manifest = scratch / f"{name}.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["data"]["source"] = str(scratch)
    if notebook:  # the notebook's 180 features instead of params.yaml's
        params["features"].update(families=list(NOTEBOOK_FEATURES.families), stats=list(NOTEBOOK_FEATURES.stats))
    (scratch / "params.yaml").write_text(yaml.safe_dump(params))
    stage = [
        sys.executable,
        str(PROJECT / "stages/features.py"),
        "--params",
        str(scratch / "params.yaml"),
        "--catalog",
        str(manifest),
        "--out",
        str(scratch / f"{name}.parquet"),
        "--cache",
        str(cache),
    ]
    # A fresh parent process, so the peak RSS is that of the stage and its workers only
    # (this process's own forked workers would otherwise count too).
    command = [sys.executable, "-c", MEASURE_CHILD, *stage]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"features stage failed:\n{result.stderr}")
    return seconds, float(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of audio files (searched recursively)")
    parser.add_argument("--repeat", type=int, default=1, help="replicate the file list N times")
    parser.add_argument(
        "--incremental", type=int, default=0, help="also time adding K new files to an extracted corpus"
    )
    parser.add_argument(
        "--stage-features",
        choices=("params", "notebook"),
        default="params",
        help="features the stage runs extract: params.yaml's (default) or the notebook's 180",
    )
    add_json_output(parser, "extract")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=PROJECT / ".cache" / "bench",
        help="where the caches and tables of the runs go (default: beside the stage's own cache)",
    )
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    rows = catalog_rows(args.data, args.repeat)
    paths = [row["path"] for row in rows]
    workers = resolve_workers(0)
    start_wall, start_busy, start_own = time.perf_counter(), machine_busy_seconds(), own_cpu_seconds()
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        scratch = Path(scratch)
        notebook_way(paths[:3])  # warm up imports and filter caches outside the timings
        project_extract(rows[:3], 1, scratch)
        result = {"files": len(rows), "workers": workers, "ref_s": timed(notebook_way, paths)}
        with threadpool_limits(1):
            result["ref_pinned_s"] = timed(notebook_way, paths)
            result["one_worker_s"] = project_extract(rows, 1, scratch)
            result["all_workers_s"] = project_extract(rows, workers, scratch)
            result["floor_s"] = timed(floor, paths)
        result["speedup_one_worker"] = result["ref_s"] / result["one_worker_s"]
        result["speedup_all_workers"] = result["ref_s"] / result["all_workers_s"]
        result["over_floor"] = result["one_worker_s"] / result["floor_s"]
        result.update(whisper_costs(rows, scratch))
        notebook = args.stage_features == "notebook"
        result["stage_features"] = args.stage_features
        full_s, peak = run_stage(rows, scratch, scratch / "cache-full", "full", notebook)
        result["stage_full_s"] = full_s
        result["peak_rss_mb"] = peak
        if args.incremental:
            with threadpool_limits(1):
                warm = scratch / "cache-in-process"
                project_extract(rows[: -args.incremental], workers, scratch, warm)
                result["incremental_in_process_s"] = project_extract(rows, workers, scratch, warm)
                result["incremental_in_process_over_full"] = (
                    result["incremental_in_process_s"] / result["all_workers_s"]
                )
            cache = scratch / "cache-incremental"
            run_stage(rows[: -args.incremental], scratch, cache, "before", notebook)
            added_s, _ = run_stage(rows, scratch, cache, "after", notebook)
            result["incremental_files"] = args.incremental
            result["stage_incremental_s"] = added_s
            result["incremental_over_full"] = added_s / full_s
    if start_busy is not None:  # how many cores other programs kept busy: timings are only comparable near 0
        other = (machine_busy_seconds() - start_busy) - (own_cpu_seconds() - start_own)
        result["background_cores"] = max(0.0, other / (time.perf_counter() - start_wall))
    print(f"{'files':>24} {result['files']}")
    for key in (
        "ref_s",
        "ref_pinned_s",
        "one_worker_s",
        "all_workers_s",
        "floor_s",
        "stage_full_s",
        "stage_incremental_s",
        "incremental_in_process_s",
    ):
        if key in result:
            print(f"{key:>24} {result[key]:8.3f} s   ({result['files'] / result[key]:7.1f} files/s)")
    for key in (
        "whisper_per_file_s",
        "whisper_floor_per_file_s",
        "whisper_over_floor",
        "whisper_last_layer_per_file_s",
        "whisper_over_last_layer",
        "whisper_all_layers_per_file_s",
        "whisper_all_over_last_layer",
        "speedup_one_worker",
        "speedup_all_workers",
        "over_floor",
        "incremental_over_full",
        "incremental_in_process_over_full",
        "peak_rss_mb",
        "background_cores",
    ):
        if key in result:
            print(f"{key:>24} {result[key]:8.3f}")
    report(result, args.json)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
