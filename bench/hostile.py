"""Hostile input against real processes: the measurements of issues 19 and 25.

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
5. 200 connections that send nothing and 64 that send headers a byte a second, held open against ``ser serve``
   (its defaults): ``GET /health``'s status and latency every quarter second meanwhile, and when the server closed them;
6. a batch of hostile files beside real ones (a GSM 6.10 WAV, float WAVs peaking at 1e20 and 3e38, a header claiming
   2,000,000,000 Hz, a real file 1,200 folders deep): ``ser predict`` (rows, failure lines, exit status), one
   ``POST /predict`` of them all (status, per-part statuses), and ``dvc exp run`` of ingest and features on a corpus
   holding them (rows featurised, ``data/rejected.csv``);
7. two requests of eight 5.5 KB FLACs of 119 s of a constant signal, and a normal request of a real file sent while
   they run: its latency against its latency alone, with the defaults (and FLACs of 59 s, under them) and with
   ``--max-seconds 120 --max-request-seconds 120`` (the 119 s parts then under both limits); and the seconds
   params.yaml's default model takes for the features of a 59 s and a 119 s constant FLAC on one thread, which is
   what a request of it holds a prediction worker for with that model;
8. ``ser predict`` with a copy of the bundle whose model.json says ``audio.sample_rate`` 1e8 (digests recomputed),
   and with one whose model.json is 300 MB (its digest stale): exit code, seconds, peak memory (``VmHWM``) and
   the lines it printed.

Without a bundle at ``--model`` one is trained on ``--data`` as the tests train theirs (tests/bundles.py).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import select
import shutil
import socket
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
from tests.audiofiles import (
    copy_good_files,
    deep_folder,
    remove_tree,
    write_absurd_header_flac,
    write_ghz_wav,
    write_gsm_wav,
    write_long_flac,
    write_loud_wav,
)
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
            response = requests.post(
                f"{server.url}/predict", timeout=600, files=[("file", (flac.name, flac.read_bytes(), "audio/flac"))]
            )
            return response.status_code, round(time.perf_counter() - start, 3)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(uploads) as pool:
            answers = list(pool.map(upload, range(uploads)))
        time.sleep(0.2)
        done.set()
        watcher.join()
        return {
            "flac_kb": round(flac.stat().st_size / 1024, 1),
            "statuses": [s for s, _ in answers],
            "seconds_max": max(t for _, t in answers),
            "rss_idle_mb": round(idle, 1),
            "rss_peak_mb": round(peak, 1),
            "rss_growth_mb": round(peak - idle, 1),
            "health_checks": len(health),
            "health_all_ok": all(ok for _, ok in health),
            "health_slowest_s": round(max(t for t, _ in health), 3),
        }
    finally:
        server.stop()


def absurd_header_predict(model: Path, real: list[Path], absurd: Path) -> dict:
    """Measurement 2a: ``ser predict`` on real files and the absurd-header FLAC."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser",
            "predict",
            "--model",
            str(model),
            "--format",
            "json",
            *map(str, real),
            str(absurd),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    failures = [line for line in run.stderr.splitlines() if line.startswith(f"error: {absurd}")]
    return {
        "returncode": run.returncode,
        "real_files": len(real),
        "printed": len(run.stdout.splitlines()),
        "failure_lines": len(failures),
        "failure": failures[0].removeprefix(f"error: {absurd} ") if failures else None,
        "traceback": "Traceback" in run.stderr,
        "flac_kb": round(absurd.stat().st_size / 1024, 1),
    }


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
    repo.set_params(
        data={"source": str(corpus), "emotions": ["neutral", "calm"]},
        features={"families": ["mfcc"], "stats": ["mean"]},
        train={"model": "logreg"},
    )
    repo.commit("corpus")
    start = time.perf_counter()
    repo.dvc("exp", "run", "features")
    seconds = time.perf_counter() - start
    features = pd.read_parquet(repo.root / "data/features.parquet", columns=["path"])
    rejected = pd.read_csv(repo.root / "data/rejected.csv", dtype=str)
    return {
        "real_files": len(good),
        "featurised": len(features),
        "seconds": round(seconds, 1),
        "rejected": dict(zip(rejected["path"].map(lambda p: Path(p).name), rejected["reason"])),
    }


def awkward_archives(data: Path, folder: Path) -> dict:
    """Measurement 3: each awkward zip extracted."""
    from ser.config import DataParams
    from ser.corpus.sources import ArchiveLimits, extract_archive

    limits = ArchiveLimits(DataParams().max_archive_bytes, DataParams().max_archive_files)
    found = {}
    for name, (archive, _) in awkward_zips(data, folder / "zips").items():
        out = folder / "out" / name.replace(" ", "_")
        refused = extract_archive(archive, out, limits)
        found[name] = {
            "written": sum(1 for p in out.rglob("*") if p.is_file()),
            "refused": {r.entry: r.reason for r in refused},
        }
    return found


def long_name_tar(folder: Path) -> dict:
    """Measurement 4: the 256 MB long-name .tar.gz extracted in a fresh process."""
    archive = long_header_tar(folder / "long-name.tar.gz", 256 << 20)
    run = subprocess.run(
        [sys.executable, "-c", TAR_PROBE, str(archive), str(folder / "tar-out")],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return {"archive_kb": round(archive.stat().st_size / 1024, 1), **json.loads(run.stdout)}


def held_connections(model: Path, idle: int = 200, slow: int = 64, seconds: float = 15.0) -> dict:
    """Measurement 5: ``idle`` silent and ``slow`` trickling connections against a fresh ``ser serve``."""
    server = ServeProcess(model)
    stop, closed_after = threading.Event(), []
    try:
        url, start = server.url, time.monotonic()
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(idle)]

        def trickle() -> None:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"x" * 1000
            with sock:
                for byte in head:
                    if stop.is_set():
                        return
                    try:
                        sock.sendall(bytes([byte]))
                    except OSError:
                        closed_after.append(time.monotonic() - start)
                        return
                    stop.wait(1.0)

        trickling = [threading.Thread(target=trickle) for _ in range(slow)]
        for thread in trickling:
            thread.start()
        probes = []
        while time.monotonic() - start < seconds:
            began = time.perf_counter()
            status = requests.get(f"{url}/health", timeout=10).status_code
            probes.append((time.monotonic() - start, time.perf_counter() - began, status))
            time.sleep(0.25)
        stop.set()
        for thread in trickling:
            thread.join()
        readable, _, _ = select.select(silent, [], [], 1.0)
        closed = sum(1 for sock in readable if not sock.recv(1))
        for sock in silent:
            sock.close()
        early = [latency for at, latency, _ in probes if at < 9.0]  # before any header timeout (10 s) could act
        return {
            "idle": idle,
            "slow": slow,
            "health_probes": len(probes),
            "health_statuses": sorted({status for _, _, status in probes}),
            "health_slowest_s_all_open": round(max(early), 3),
            "health_slowest_s": round(max(latency for _, latency, _ in probes), 3),
            "idle_closed_by_server": closed,
            "slow_closed_by_server": len(closed_after),
            "slow_closed_after_s": round(min(closed_after), 1) if closed_after else None,
        }
    finally:
        stop.set()
        server.stop()


def hostile_batch(folder: Path, data: Path) -> dict[str, Path]:
    """The hostile files of measurement 6, and a real file 1,200 folders deep."""
    deep = deep_folder(folder / "deep", 1200)
    real = spread_files(data, 8)
    shutil.copyfile(real[-1], deep / "deep.wav")  # not one of the corpus's good files
    return {
        "gsm": write_gsm_wav(folder / "gsm.wav", real[-2]),
        "loud 1e20": write_loud_wav(folder / "loud.wav", 1e20),
        "loud 3e38": write_loud_wav(folder / "loud38.wav", 3e38),
        "ghz": write_ghz_wav(folder / "ghz.wav"),
        "deep": deep / "deep.wav",
    }


def hostile_batch_predict(model: Path, real: list[Path], batch: dict[str, Path], folder: Path) -> dict:
    """Measurement 6a: ``ser predict`` on real files, the hostile ones and the deep folder; then one POST of them."""
    hostile = [path for kind, path in batch.items() if kind != "deep"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser",
            "predict",
            "--model",
            str(model),
            "--format",
            "json",
            *map(str, real + hostile),
            str(folder / "deep"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    failures = [line.removeprefix("error: ") for line in run.stderr.splitlines() if line.startswith("error: ")]
    figures = {
        "ser_predict": {
            "returncode": run.returncode,
            "real_files": len(real) + 1,
            "rows": len(run.stdout.splitlines()),
            "failure_lines": failures,
            "traceback": "Traceback" in run.stderr,
        }
    }
    server = ServeProcess(model)
    try:
        parts = [("file", (path.name, path.read_bytes(), "audio/wav")) for path in real + list(batch.values())]
        response = requests.post(f"{server.url}/predict", files=parts, timeout=600)
        body = response.json()
        figures["post_predict"] = {
            "status": response.status_code,
            "parts": len(parts),
            "part_statuses": [part.get("status", 200) for part in body["predictions"]],
        }
    finally:
        server.stop()
    return figures


def hostile_batch_pipeline(data: Path, batch: dict[str, Path], folder: Path) -> dict:
    """Measurement 6b: ``dvc exp run features`` on real files and the hostile ones under RAVDESS names."""
    import pandas as pd

    corpus = folder / "corpus"
    good = copy_good_files(data, corpus)
    for actor, (kind, path) in enumerate(batch.items(), start=20):
        target = corpus / f"Actor_{actor}" / f"03-01-01-01-01-01-{actor}.wav"  # selected emotion: its audio is checked
        if kind == "deep":
            target = deep_folder(corpus / "deep", 1200) / target.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (folder / "repo").mkdir()
    repo = DvcRepo(folder / "repo")
    repo.set_params(
        data={"source": str(corpus), "emotions": ["neutral", "calm"]},
        features={"families": ["mfcc"], "stats": ["mean"]},
        train={"model": "logreg"},
    )
    repo.commit("corpus")
    run = repo.dvc("exp", "run", "features", check=False)
    features = pd.read_parquet(repo.root / "data/features.parquet", columns=["path"]) if run.returncode == 0 else []
    rejected = pd.read_csv(repo.root / "data/rejected.csv", dtype=str) if run.returncode == 0 else pd.DataFrame()
    return {
        "returncode": run.returncode,
        "real_files": len(good) + 1,
        "featurised": len(features),
        "traceback": "Traceback" in run.stdout + run.stderr,
        "rejected": dict(
            zip(
                rejected.get("path", pd.Series(dtype=str)).map(lambda p: Path(p).name[-12:]),
                rejected.get("reason", pd.Series(dtype=str)),
            )
        ),
    }


def default_model_feature_seconds(folder: Path, seconds: tuple[int, ...] = (59, 119)) -> dict:
    """Measurement 7's scale: seconds the features of params.yaml's default model take for a constant FLAC of each
    length, on one thread (what one prediction worker spends on it), the second of two runs."""
    from threadpoolctl import threadpool_limits

    from ser.config import load_params
    from ser.corpus.audio import load_audio
    from ser.features.extractor import FeatureExtractor

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    extractor, took = FeatureExtractor(params.features, params.audio.sample_rate), {}
    with threadpool_limits(1):
        for length in seconds:
            flac = write_long_flac(folder / f"constant-{length}.flac", length)
            for _ in range(2):
                began = time.perf_counter()
                extractor(load_audio(flac, params.audio.sample_rate))
                took[f"{length} s"] = round(time.perf_counter() - began, 2)
    return {"families": list(params.features.families), "seconds_per_file": took}


def constant_flac_delay(model: Path, normal: Path, folder: Path, *args: str, length: float = 119) -> dict:
    """Measurement 7: a normal request's latency alone, and while two requests of eight constant FLACs of
    ``length`` seconds run."""
    flac = write_long_flac(folder / "constant.flac", length)
    server = ServeProcess(model, *args)
    try:

        def post(paths: list[Path]) -> tuple[int, float, list]:
            began = time.perf_counter()
            response = requests.post(
                f"{server.url}/predict",
                timeout=900,
                files=[("file", (p.name, p.read_bytes(), "audio/flac")) for p in paths],
            )
            statuses = [part.get("status", 200) for part in response.json().get("predictions", [])]
            return response.status_code, round(time.perf_counter() - began, 3), statuses

        post([normal])
        alone = post([normal])[1]
        with ThreadPoolExecutor(3) as pool:
            heavy = [pool.submit(post, [flac] * 8) for _ in range(2)]
            time.sleep(0.5)
            during = pool.submit(post, [normal]).result()
            answers = [future.result() for future in heavy]
        return {
            "server_args": " ".join(args) or "defaults",
            "flac_seconds": length,
            "flac_kb": round(flac.stat().st_size / 1024, 1),
            "normal_alone_s": alone,
            "normal_during_s": during[1],
            "normal_status": during[0],
            "flac_requests": [
                {"status": status, "seconds": seconds, "parts_predicted": parts.count(200)}
                for status, seconds, parts in answers
            ],
        }
    finally:
        server.stop()


PREDICT_PROBE = """
import atexit, re, runpy, sys
from pathlib import Path
peak = Path(sys.argv.pop(1))
atexit.register(lambda: peak.write_text(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]))
sys.argv[0] = "ser"
runpy.run_module("ser", run_name="__main__")
"""


def hostile_bundles(model: Path, audio: Path, folder: Path) -> dict:
    """Measurement 8: ``ser predict`` on ``audio`` with each hostile copy of ``model``: exit code, seconds, peak
    memory (``VmHWM``, read by the process itself at exit) and the lines it printed."""
    damages = {
        "sample_rate_1e8": lambda b: rewrite_info(b, lambda info: info["audio"].update(sample_rate=10**8)),
        "model_json_300mb": lambda b: pad_info(b, 300 << 20),
    }
    found = {}
    for name, damage in damages.items():
        copy = Path(shutil.copytree(model, folder / name))
        damage(copy)
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-c", PREDICT_PROBE, str(folder / "peak_kb"), "predict", "--model", str(copy), str(audio)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = (run.stdout + run.stderr).splitlines()
        found[name] = {
            "returncode": run.returncode,
            "seconds": round(time.perf_counter() - start, 2),
            "peak_mb": int((folder / "peak_kb").read_text()) // 1024,
            "lines": len(lines),
            "first_line": lines[0].replace(str(folder), "$TMP") if lines else "",
        }
        shutil.rmtree(copy)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_and_data(parser)
    add_json_output(parser, "hostile")
    parser.add_argument(
        "--only",
        type=int,
        nargs="+",
        choices=range(1, 9),
        metavar="N",
        help="run only these measurements (numbered as above; default: all)",
    )
    args = parser.parse_args()
    wanted = set(args.only or range(1, 9))
    with tempfile.TemporaryDirectory(prefix="ser-hostile-") as scratch:
        folder = Path(scratch)
        model = args.model if (args.model / "model.json").is_file() else train_bundle(args.data, folder / "model")
        absurd = write_absurd_header_flac(folder / "absurd.flac")
        batch = hostile_batch(folder / "batch", args.data)
        normal = spread_files(args.data, 1)[0]
        measurements = {
            1: (
                "serve_hour_flac_x8",
                lambda: concurrent_long_uploads(model, write_long_flac(folder / "hour.flac", 3600, sample_rate=16000)),
            ),
            2: ("predict_absurd_header", lambda: absurd_header_predict(model, spread_files(args.data, 4), absurd)),
            3: ("awkward_zips", lambda: awkward_archives(args.data, folder)),
            4: ("long_name_tar_gz", lambda: long_name_tar(folder)),
            5: ("held_connections", lambda: held_connections(model)),
            6: (
                "hostile_batch",
                lambda: hostile_batch_predict(model, spread_files(args.data, 4), batch, folder / "batch"),
            ),
            7: (
                "constant_flacs",
                lambda: [
                    constant_flac_delay(model, normal, folder),
                    constant_flac_delay(model, normal, folder, length=59),
                    constant_flac_delay(model, normal, folder, "--max-seconds", "120", "--max-request-seconds", "120"),
                    default_model_feature_seconds(folder),
                ],
            ),
            8: ("predict_hostile_bundle", lambda: hostile_bundles(model, normal, folder)),
        }
        pipelines = {
            2: ("exp_run_absurd_header", lambda: absurd_header_pipeline(args.data, absurd, folder / "pipeline")),
            6: ("hostile_batch_exp_run", lambda: hostile_batch_pipeline(args.data, batch, folder / "batch-pipe")),
        }
        figures = {"model": str(args.model) if model == args.model else "trained on --data (tests/bundles.py)"}
        for number in sorted(wanted):
            for name, measure in (measurements[number], *([pipelines[number]] if number in pipelines else [])):
                figures[name] = measure()
                print(json.dumps(figures[name]).replace(str(folder), "$TMP"), flush=True)
        for deep in (folder / "batch/deep", folder / "batch-pipe/corpus/deep"):  # rmtree would recurse 1,200 deep
            if deep.exists():
                remove_tree(deep)
        figures = json.loads(json.dumps(figures).replace(str(folder), "$TMP"))  # the JSON file names no temporary path
    report(figures, args.json)


if __name__ == "__main__":
    main()
