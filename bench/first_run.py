"""Time the first ``dvc repro`` of the demo corpus in a fresh clone, stage by stage, then the no-op ``dvc repro``.

    python bench/first_run.py --json docs/results/first_run.json

Clones this repository's committed HEAD into a scratch folder, points ``SER_CACHE`` at an empty folder (no cached
features) and runs ``dvc repro`` with the current Python environment. A stage's time runs from DVC's line naming it to
the next stage's line (or the end), so it includes DVC's own work for that stage; its CPU seconds are those DVC and
the processes it waited for spent in that time (every core's, so on a busy machine the steadier figure).

Then, each the median of ``--repeat`` runs: the no-op ``dvc repro`` (wall and CPU seconds), the ingest stage it runs
(its script alone, as DVC calls it) and ``dvc status``, which reads what ``dvc repro`` reads and runs nothing: what
is left of the no-op beside ingest is DVC's own work (starting, reading dvc.yaml and dvc.lock, writing dvc.lock
again after ingest).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PROJECT, add_json_output, children_cpu_seconds, machine_busy_seconds, report, run

STAGE_LINE = re.compile(r"^Running stage '(?P<stage>[^']+)'")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid`` and of the children it has waited for (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime, stime, cutime, cstime


def timed_repro(clone: Path, env: dict) -> tuple[dict[str, float], dict[str, float], float]:
    """Per-stage wall seconds, per-stage CPU seconds and total wall seconds of one ``dvc repro`` in ``clone``."""
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    start, cpu_start = time.perf_counter(), children_cpu_seconds()
    current, since, cpu_since = None, start, 0.0
    with subprocess.Popen(
        ["dvc", "repro"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        output = []
        for line in process.stdout:
            output.append(line)
            match = STAGE_LINE.match(line)
            if match:
                now, cpu_now = time.perf_counter(), process_cpu_seconds(process.pid)
                if current:
                    stages[current], cpu[current] = now - since, cpu_now - cpu_since
                current, since, cpu_since = match["stage"], now, cpu_now
    end = time.perf_counter()
    if process.returncode != 0:
        raise SystemExit(f"dvc repro failed ({process.returncode}):\n{''.join(output)}")
    if current:
        stages[current], cpu[current] = end - since, children_cpu_seconds() - cpu_start - cpu_since
    return stages, cpu, end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_json_output(parser, "first_run")
    parser.add_argument("--keep", type=Path, help="clone into this (new) folder and keep it (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each no-op timing (their median is kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ser-first-run-") as scratch:
        clone = args.keep or Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)
        env = {**os.environ, "SER_CACHE": str(Path(scratch) / "cache")}
        busy = machine_busy_seconds()
        stages, cpu, total = timed_repro(clone, env)
        if busy is not None:
            busy = (machine_busy_seconds() - busy) / total / (os.cpu_count() or 1)
        timings = {
            name: run(command, args.repeat, cwd=clone, env=env)
            for name, command in (
                ("noop", ["dvc", "repro"]),
                ("noop_ingest", [sys.executable, "stages/ingest.py"]),
                ("noop_status", ["dvc", "status"]),
            )
        }
    result = {
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True, check=True
        ).stdout.strip(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        **{f"stage_{name}": seconds for name, seconds in stages.items()},
        **{f"cpu_{name}": seconds for name, seconds in cpu.items()},
        "total_seconds": total,
        "cpu_seconds": sum(cpu.values()),
        "noop_seconds": timings["noop"][0],
        "noop_cpu_seconds": timings["noop"][1],
        "noop_ingest_seconds": timings["noop_ingest"][0],
        "noop_ingest_cpu_seconds": timings["noop_ingest"][1],
        "noop_status_seconds": timings["noop_status"][0],
        "noop_status_cpu_seconds": timings["noop_status"][1],
        "machine_busy_fraction": busy,
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
