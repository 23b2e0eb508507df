"""Benchmark the corpus boundary: what a no-op `dvc repro` costs as the corpus grows, beside DVC hashing it.

    python bench/corpus.py --data ../shared/data/ravdess16k --repeat 100 [--runs 3] [--scratch /tmp]

The files of ``--data`` are copied once into a scratch folder and replicated under new
names by hard links (``r001/Actor_01/03-01-....wav`` ...), so the corpus holds the files
times 1, ``repeat/10`` and ``repeat`` (720, 7,200 and 72,000 for RAVDESS's 720 and 100).
A replica has the same audio as its original, so ingest rejects it as a duplicate: the
manifest keeps the originals and ``rejected.csv`` grows instead, but every file is still
listed, checked and written to one of the two tables on every run. Replicas share their
original's inode, so the check cache decodes each original once.

At each size, in a throwaway copy of the project (cheap features: mfcc means, logreg),
after ``dvc repro`` has brought everything up to date:

* noop_repro_s: a `dvc repro` of the whole pipeline that changes nothing (ingest runs and
  checks the corpus; every other stage is skipped), best of ``--runs``; noop_repro_cpu_s:
  the CPU seconds of DVC and the stage processes, least of the same runs (on a shared
  machine other programs stretch wall time, much less CPU time);
* status_s, status_cpu_s: `dvc status`, the same way;
* plain_hash_s, plain_status_s: DVC's own cost of the same folder as a plain dependency
  (a fresh repository with one stage depending on it): the first `dvc repro`, which
  hashes every file, and a `dvc status` once its hashes are known.

At the middle size, 60 new files (real audio at another gain, so not duplicates) are
added and `dvc repro features` is run: ``added_stages`` must be ingest and features and
``added_computed`` 60. At the largest size, the peak RSS of the ingest stage alone, with
its check cache warm and cold. ``noop_ratio`` is the no-op at the largest size over the
no-op at the smallest (target: at most 2), ``noop_cpu_ratio`` the same in CPU seconds. ``background_cores``: how
many cores other programs kept busy meanwhile; trust timings only when it is near 0. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from common import machine_busy_seconds  # noqa: E402  (bench/common.py)
from extract import MEASURE_CHILD, own_cpu_seconds  # noqa: E402  (bench/extract.py)
from tests.dvcrepo import DvcRepo, stages_run  # noqa: E402

CHEAP = {"features": {"families": ["mfcc"], "stats": ["mean"]}, "train": {"model": "logreg"}}
SELECTED_CODES = ("01", "02", "03", "07")  # RAVDESS emotion codes of params.yaml's neutral, calm, happy, disgust
ADDED = 60


def audio_files(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg"))


def grow(corpus: Path, originals: list[Path], data: Path, replicas: int) -> None:
    """Make ``corpus`` hold ``replicas`` copies of the files: r000 real copies, the others hard links to them."""
    for replica in range(replicas):
        folder = corpus / f"r{replica:03d}"
        if folder.exists():
            continue
        for original in originals:
            target = folder / original.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            if replica == 0:
                shutil.copyfile(original, target)
            else:
                os.link(corpus / "r000" / original.relative_to(data), target)


def add_new_files(corpus: Path, originals: list[Path], count: int) -> None:
    """``count`` files of selected emotions as new audio: an original's samples at 0.9 times the gain."""
    chosen = [p for p in originals if p.name.split("-")[2] in SELECTED_CODES][:count]
    for original in chosen:
        samples, rate = sf.read(original, dtype="float32")
        target = corpus / "added" / original.parent.name / original.name
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, 0.9 * samples, rate, subtype="PCM_16")


def children_cpu_seconds() -> float:
    """CPU seconds of every finished child process, and theirs (DVC and the stages it ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_of(runs: int, command) -> tuple[float, float]:
    """Least wall seconds and least CPU seconds of ``runs`` calls of ``command``."""
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), children_cpu_seconds()
        command()
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu_seconds() - cpu)
    return min(walls), min(cpus)


def plain_dependency(root: Path, corpus: Path, runs: int) -> tuple[float, float]:
    """DVC hashing ``corpus`` as the dependency of a stage that does nothing: (first repro, status) wall seconds."""
    root.mkdir()
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"]):
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    (root / "dvc.yaml").write_text(json.dumps({"stages": {"hash": {"cmd": "true", "deps": [str(corpus)]}}}))
    start = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=root, check=True, capture_output=True)
    first = time.perf_counter() - start
    status, _ = best_of(runs, lambda: subprocess.run(["dvc", "status"], cwd=root, check=True, capture_output=True))
    return first, status


def ingest_peak_rss_mb(repo: DvcRepo, cold: bool) -> float:
    """Peak RSS of the ingest stage script alone (a fresh parent process measures it), MB."""
    if cold:
        shutil.rmtree(repo.root / ".cache" / "ingest", ignore_errors=True)
    stage = [sys.executable, "stages/ingest.py", "--cache", ".cache/ingest"]
    result = repo.run(sys.executable, "-c", MEASURE_CHILD, *stage)
    return float(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of audio files (searched recursively)")
    parser.add_argument(
        "--repeat", type=int, default=100, help="largest replication factor (also measured: 1 and repeat/10)"
    )
    parser.add_argument("--runs", type=int, default=3, help="no-op timings are the best of this many runs")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()), help="where the corpus copies go")
    args = parser.parse_args()
    factors = sorted({1, max(1, args.repeat // 10), args.repeat})
    data = args.data.resolve()
    originals = audio_files(data)
    start_wall, start_busy, start_own = time.perf_counter(), machine_busy_seconds(), own_cpu_seconds()
    result: dict = {"files_per_replica": len(originals), "sizes": []}
    with tempfile.TemporaryDirectory(dir=args.scratch, prefix="ser-bench-corpus-") as scratch:
        scratch = Path(scratch)
        corpus = scratch / "corpus"
        (scratch / "project").mkdir()
        repo = DvcRepo(scratch / "project")
        repo.set_params(data={"source": str(corpus)}, **CHEAP)
        repo.commit("bench corpus")
        for factor in factors:
            grow(corpus, originals, data, factor)
            files = len(originals) * factor + (ADDED if (corpus / "added").exists() else 0)
            repo.dvc("repro")
            size = {"files": files}
            size["noop_repro_s"], size["noop_repro_cpu_s"] = best_of(args.runs, lambda: repo.dvc("repro"))
            size["status_s"], size["status_cpu_s"] = best_of(args.runs, lambda: repo.dvc("status"))
            plain = plain_dependency(scratch / f"plain{factor}", corpus, args.runs)
            size["plain_hash_s"], size["plain_status_s"] = plain
            result["sizes"].append(size)
            print(
                f"{files:>7} files: no-op dvc repro {size['noop_repro_s']:6.2f} s "
                f"({size['noop_repro_cpu_s']:5.2f} s CPU), dvc status {size['status_s']:6.2f} s;"
                f" plain dependency: first hash {size['plain_hash_s']:6.2f} s,"
                f" status {size['plain_status_s']:6.2f} s",
                flush=True,
            )
            if factor == factors[len(factors) // 2]:
                add_new_files(corpus, originals, ADDED)
                added = repo.dvc("repro", "features")
                computed = re.search(r"features: \d+ files \((\d+) computed", added.stdout)
                result["added_files"] = ADDED
                result["added_stages"] = stages_run(added.stdout)
                result["added_computed"] = int(computed[1]) if computed else None
                print(
                    f"+{ADDED} files at {files}: dvc repro features ran {result['added_stages']}, "
                    f"features computed {result['added_computed']}",
                    flush=True,
                )
        result["ingest_peak_rss_mb"] = ingest_peak_rss_mb(repo, cold=False)
        result["ingest_cold_peak_rss_mb"] = ingest_peak_rss_mb(repo, cold=True)
    result["noop_ratio"] = result["sizes"][-1]["noop_repro_s"] / result["sizes"][0]["noop_repro_s"]
    result["noop_cpu_ratio"] = result["sizes"][-1]["noop_repro_cpu_s"] / result["sizes"][0]["noop_repro_cpu_s"]
    print(
        f"ingest peak RSS at {result['sizes'][-1]['files']} files: {result['ingest_peak_rss_mb']:.0f} MB "
        f"(check cache warm), {result['ingest_cold_peak_rss_mb']:.0f} MB (cold)"
    )
    print(
        f"no-op at {result['sizes'][-1]['files']} over no-op at {result['sizes'][0]['files']}: "
        f"{result['noop_ratio']:.2f} (wall), {result['noop_cpu_ratio']:.2f} (CPU)"
    )
    if start_busy is not None:
        other = (machine_busy_seconds() - start_busy) - (own_cpu_seconds() - start_own)
        result["background_cores"] = max(0.0, other / (time.perf_counter() - start_wall))
    print(json.dumps(json.loads(json.dumps(result), parse_float=lambda text: round(float(text), 3))))


if __name__ == "__main__":
    main()
