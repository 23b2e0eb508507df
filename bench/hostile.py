"""Hostile input against real processes: the four measurements of issue 19, and hostile bundles (issue 25).

    python bench/hostile.py [--model model] [--data ../shared/data/ravdess16k] [--json docs/results/hostile.json]

Builds its hostile files in a temporary folder (nothing is kept): a one-hour near-constant 16 kHz FLAC, a FLAC
whose header claims 2**36 samples, the two zips with an entry that cannot be written, and a .tar.gz whose first
header is a 256 MB GNU long name. Then, on 127.0.0.1:

1. eight concurrent uploads of the one-hour FLAC to ``ser serve``: each one's status and seconds, the server's
   resident memory idle and at its peak (sampled every 20 ms), and ``GET /health``'s slowest answer meanwhile;
2. ``ser predict`` on real files and the absurd-header FLAC (results printed, failure lines), and ``dvc exp run``
   of the ingest and features stages on a folder of real files holding it (rows featurised, its rejection);
3. each awkward zip extracted: entries written, entries refused with their reasons;
4. the long-name .tar.gz extracted in a fresh process: its seconds, peak memory (``VmHWM``: ru_maxrss would
   report this process's, inherited at fork) and message length;
5. ``ser predict`` with a copy of the bundle whose model.json says ``audio.sample_rate`` 1e8 (digests recomputed),
   and with one whose model.json is 300 MB (its digest stale): exit code, seconds, peak memory (``VmHWM``) and
   the lines it printed.

Without a bundle at ``--model`` one is trained on ``--data`` as the tests train theirs (tests/bundles.py).
The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from common import add_json_output, add_model_and_data, report, spread_files
from serve import rss_mb

from tests.archives import awkward_zips, long_header_tar
from tests.audiofiles import GOOD_RAVDESS, copy_good_files, write_absurd_header_flac, write_long_flac
from tests.bundles import pad_info, rewrite_info, train_bundle
from tests.dvcrepo import DvcRepo
from tests.servers import ServeProcess

TAR_PROBE = """
import json, re, sys, time
from pathlib import Path
from ser.corpus.sources import ArchiveLimits, SourceError, extract_archive
start = time.perf_counter()
try:
    extract_archive(Path(sys.argv[1]), Path(sys.argv[2]), ArchiveLimits(20_000_000_000, 1_000_000))
    message = ""
except SourceError as error:
    message = str(error)
print(json.dumps({"seconds": round(time.perf_counter() - start, 3), "message_chars": len(message),
                  "peak_mb": int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]) // 1024,
                  "message": message}))
"""


def concurrent_long_uploads(model: Path, flac: Path, uploads: int = 8) -> dict:
    """Measurement 1: ``uploads`` concurrent POSTs of ``flac`` to a fresh ``ser serve``."""
    server = ServeProcess(model)
    try:
        pid = server.process.pid
        requests.get(f"{server.url}/health", timeout=10)
        idle = rss_mb(pid)
        peak, health, done = idle, [], threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mb(pid))
                start = time.perf_counter()
                ok = requests.get(f"{server.url}/health", timeout=10).status_code == 200
                health.append((time.perf_counter() - start, ok))
                time.sleep(0.02)

        def upload(_) -> tuple[int, float]:
            start = time.perf_counter()
            response = requests.post(f"{server.url}/predict", timeout=600,
                                     files=[("file", (flac.name, flac.read_bytes(), "audio/flac"))])
            return response.status_code, round(time.perf_counter() - start, 3)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(uploads) as pool:
            answers = list(pool.map(upload, range(uploads)))
        time.sleep(0.2)
        done.set()
        watcher.join()
        return {"flac_kb": round(flac.stat().st_size / 1024, 1), "statuses": [s for s, _ in answers],
                "seconds_max": max(t for _, t in answers), "rss_idle_mb": round(idle, 1),
                "rss_peak_mb": round(peak, 1), "rss_growth_mb": round(peak - idle, 1),
                "health_checks": len(health), "health_all_ok": all(ok for _, ok in health),
                "health_slowest_s": round(max(t for t, _ in health), 3)}
    finally:
        server.stop()


def absurd_header_predict(model: Path, real: list[Path], absurd: Path) -> dict:
    """Measurement 2a: ``ser predict`` on real files and the absurd-header FLAC."""
    run = subprocess.run([sys.executable, "-m", "ser", "predict", "--model", str(model), "--format", "json",
                          *map(str, real), str(absurd)], capture_output=True, text=True, timeout=600)
    failures = [line for line in run.stderr.splitlines() if line.startswith(f"error: {absurd}")]
    return {"returncode": run.returncode, "real_files": len(real), "printed": len(run.stdout.splitlines()),
            "failure_lines": len(failures),
            "failure": failures[0].removeprefix(f"error: {absurd} ") if failures else None,
            "traceback": "Traceback" in run.stderr, "flac_kb": round(absurd.stat().st_size / 1024, 1)}


def absurd_header_pipeline(data: Path, absurd: Path, folder: Path) -> dict:
    """Measurement 2b: ``dvc exp run features`` on a folder of real files holding the absurd-header FLAC."""
    import pandas as pd

    corpus = folder / "corpus"
    good = copy_good_files(data, corpus)
    bad = corpus / "Actor_20/03-01-01-01-01-01-20.wav"  # a RAVDESS name of a selected emotion: its audio is checked
    bad.parent.mkdir()
    shutil.copyfile(absurd, bad)
    (folder / "repo").mkdir()
    repo = DvcRepo(folder / "repo")
    repo.set_params(data={"source": str(corpus), "emotions": ["neutral", "calm"]},
                    features={"families": ["mfcc"], "stats": ["mean"]}, train={"model": "logreg"})
    repo.commit("corpus")
    start = time.perf_counter()
    repo.dvc("exp", "run", "features")
    seconds = time.perf_counter() - start
    features = pd.read_parquet(repo.root / "data/features.parquet", columns=["path"])
    rejected = pd.read_csv(repo.root / "data/rejected.csv", dtype=str)
    return {"real_files": len(good), "featurised": len(features), "seconds": round(seconds, 1),
            "rejected": dict(zip(rejected["path"].map(lambda p: Path(p).name), rejected["reason"]))}


def awkward_archives(data: Path, folder: Path) -> dict:
    """Measurement 3: each awkward zip extracted."""
    from ser.config import DataParams
    from ser.corpus.sources import ArchiveLimits, extract_archive

    limits = ArchiveLimits(DataParams().max_archive_bytes, DataParams().max_archive_files)
    found = {}
    for name, (archive, _) in awkward_zips(data, folder / "zips").items():
        out = folder / "out" / name.replace(" ", "_")
        refused = extract_archive(archive, out, limits)
        found[name] = {"written": sum(1 for p in out.rglob("*") if p.is_file()),
                       "refused": {r.entry: r.reason for r in refused}}
    return found


def long_name_tar(folder: Path) -> dict:
    """Measurement 4: the 256 MB long-name .tar.gz extracted in a fresh process."""
    archive = long_header_tar(folder / "long-name.tar.gz", 256 << 20)
    run = subprocess.run([sys.executable, "-c", TAR_PROBE, str(archive), str(folder / "tar-out")],
                         capture_output=True, text=True, timeout=600, check=True)
    return {"archive_kb": round(archive.stat().st_size / 1024, 1), **json.loads(run.stdout)}


PREDICT_PROBE = """
import atexit, re, runpy, sys
from pathlib import Path
peak = Path(sys.argv.pop(1))
atexit.register(lambda: peak.write_text(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]))
sys.argv[0] = "ser"
runpy.run_module("ser", run_name="__main__")
"""


def hostile_bundles(model: Path, audio: Path, folder: Path) -> dict:
    """Measurement 5: ``ser predict`` on ``audio`` with each hostile copy of ``model``: exit code, seconds, peak
    memory (``VmHWM``, read by the process itself at exit) and the lines it printed."""
    damages = {"sample_rate_1e8": lambda b: rewrite_info(b, lambda info: info["audio"].update(sample_rate=10**8)),
               "model_json_300mb": lambda b: pad_info(b, 300 << 20)}
    found = {}
    for name, damage in damages.items():
        copy = Path(shutil.copytree(model, folder / name))
        damage(copy)
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", PREDICT_PROBE, str(folder / "peak_kb"), "predict", "--model",
                              str(copy), str(audio)], capture_output=True, text=True, timeout=600)
        lines = (run.stdout + run.stderr).splitlines()
        found[name] = {"returncode": run.returncode, "seconds": round(time.perf_counter() - start, 2),
                       "peak_mb": int((folder / "peak_kb").read_text()) // 1024, "lines": len(lines),
                       "first_line": lines[0].replace(str(folder), "$TMP") if lines else ""}
        shutil.rmtree(copy)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_and_data(parser)
    add_json_output(parser, "hostile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ser-hostile-") as scratch:
        folder = Path(scratch)
        model = args.model if (args.model / "model.json").is_file() else train_bundle(args.data, folder / "model")
        hour = write_long_flac(folder / "hour.flac", 3600, sample_rate=16000)
        absurd = write_absurd_header_flac(folder / "absurd.flac")
        figures = {"model": str(args.model) if model == args.model else "trained on --data (tests/bundles.py)"}
        figures["serve_hour_flac_x8"] = concurrent_long_uploads(model, hour)
        print(json.dumps(figures["serve_hour_flac_x8"]), flush=True)
        figures["predict_absurd_header"] = absurd_header_predict(model, spread_files(args.data, 4), absurd)
        print(json.dumps(figures["predict_absurd_header"]), flush=True)
        figures["exp_run_absurd_header"] = absurd_header_pipeline(args.data, absurd, folder / "pipeline")
        print(json.dumps(figures["exp_run_absurd_header"]), flush=True)
        figures["awkward_zips"] = awkward_archives(args.data, folder)
        print(json.dumps(figures["awkward_zips"]), flush=True)
        figures["long_name_tar_gz"] = tar = long_name_tar(folder)
        tar["message"] = tar["message"].replace(str(folder), "$TMP")
        print(json.dumps(figures["long_name_tar_gz"]), flush=True)
        figures["predict_hostile_bundle"] = hostile_bundles(model, spread_files(args.data, 1)[0], folder)
        print(json.dumps(figures["predict_hostile_bundle"]), flush=True)
    report(figures, args.json)


if __name__ == "__main__":
    main()
