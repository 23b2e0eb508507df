"""What the benchmarks share: the project root, the real files they read, timing fresh processes, how busy the
machine was."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from tests.audiofiles import spread_files  # noqa: E402,F401  (the benchmarks pick their real files as the tests do)


def add_model_and_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=PROJECT / "model", help="bundle folder (default: model)")
    parser.add_argument(
        "--data",
        type=Path,
        default=PROJECT.parent / "shared" / "data" / "ravdess16k",
        help="folder of real audio files (searched recursively)",
    )


def add_json_output(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        help=f"also write the results to this JSON file (docs/results/{name}.json, "
        "which docs/tables.py turns into the docs' tables)",
    )


def report(result: dict, path: Path | None) -> None:
    """Print ``result`` as one JSON line (floats to 4 decimals) and, with ``path``, write it there too."""
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
    print(json.dumps(rounded))
    if path:
        path.write_text(json.dumps(rounded, indent=1) + "\n")


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux), or None where unknown."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str], repeat: int, cwd: Path | None = None, env: dict | None = None) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``command`` over ``repeat`` fresh processes (each must succeed), in ``cwd``
    with ``env`` when given."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = children_cpu_seconds(), time.perf_counter()
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu_seconds() - cpu)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return statistics.median(walls), statistics.median(cpus)
