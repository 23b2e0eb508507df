"""Benchmark `ser predict` as a user meets it: fresh processes, wall-clock seconds.

    python bench/predict.py [--model model] [--data ../shared/data/ravdess16k] [--repeat 5]

Every figure is the median over ``--repeat`` fresh processes (``python -m ser``, the
same code path as the ``ser`` script), in wall seconds and (``*_cpu_s``) CPU seconds of
the process, which other programs on a shared machine disturb less:

* python_s: a bare ``python -c pass``, the floor no command can beat;
* ready_s: import everything predicting needs and load the bundle (``Predictor(model)``),
  no audio;
* one_file_s: ``ser predict`` on one 4-second file;
* folder_s / per_file_s: ``ser predict`` on a folder of ``--files`` copies of real files,
  and that time divided by the number of files;
* refused: the chosen files ``ser predict`` refuses (a clip in which the speech detector finds
  no speech), with its reason; they are left out of the folder, and ``files`` counts those kept;
* marginal_file_s, marginal_file_cpu_s: (folder - one file) / (files - 1), the cost of one
  more file once the process is up (wall differences this small drown in noise on a busy
  machine; the CPU figure holds up better).

Then the modules that dominate ready_s (``python -X importtime``, cumulative, top
level), and ``background_cores``: how many cores other programs kept busy meanwhile
(from /proc/stat); compare timings only from runs where it is near 0. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    add_json_output,
    add_model_and_data,
    children_cpu_seconds,
    machine_busy_seconds,
    report,
    run,
    spread_files,
)


def top_imports(model: Path, count: int) -> list[tuple[str, float]]:
    """Top-level modules by cumulative import seconds while getting a predictor ready."""
    code = f"from ser.inference.predictor import Predictor; Predictor({str(model)!r})"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    modules = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # depth 0: ' name'
            modules.append((name.strip(), int(cumulative) / 1e6))
    return sorted(modules, key=lambda item: -item[1])[:count]


def refused(ser: list[str], folder: Path) -> dict[str, str]:
    """The files in ``folder`` that ``ser predict`` refuses, each with its error line; one run, which also warms the
    OS file cache and Python's bytecode caches."""
    result = subprocess.run(ser + ["--format", "json", str(folder)], capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(ser)} {folder} failed ({result.returncode}):\n{result.stderr}")
    done = {Path(json.loads(line)["file"]).name for line in result.stdout.splitlines()}
    errors = result.stderr.splitlines()
    return {
        path.name: next((line for line in errors if path.name in line), "not predicted")
        for path in sorted(folder.iterdir())
        if path.name not in done
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_data(parser)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per figure (median)")
    parser.add_argument("--files", type=int, default=100, help="files in the folder run")
    add_json_output(parser, "predict")
    args = parser.parse_args()
    chosen = spread_files(args.data, args.files)
    ser = [sys.executable, "-m", "ser", "predict", "--model", str(args.model)]
    ready = [sys.executable, "-c", f"from ser.inference.predictor import Predictor; Predictor({str(args.model)!r})"]
    start_wall, start_busy, start_own = time.perf_counter(), machine_busy_seconds(), children_cpu_seconds()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "recordings"
        folder.mkdir()
        for i, source in enumerate(chosen):
            shutil.copyfile(source, folder / f"{i:03d}_{source.name}")
        skipped = refused(ser, folder)
        for name in skipped:
            (folder / name).unlink()
        files = len(chosen) - len(skipped)
        one = str(folder / sorted(p.name for p in folder.iterdir())[0])
        result = {"files": files, "repeat": args.repeat, "refused": skipped}
        for name, command in (
            ("python", [sys.executable, "-c", "pass"]),
            ("ready", ready),
            ("one_file", ser + [one]),
            ("folder", ser + [str(folder)]),
        ):
            result[f"{name}_s"], result[f"{name}_cpu_s"] = run(command, args.repeat)
    result["per_file_s"] = result["folder_s"] / files
    result["marginal_file_s"] = (result["folder_s"] - result["one_file_s"]) / (files - 1)
    result["marginal_file_cpu_s"] = (result["folder_cpu_s"] - result["one_file_cpu_s"]) / (files - 1)
    result["ready_share_of_one_file"] = result["ready_s"] / result["one_file_s"]
    imports = top_imports(args.model, 8)
    result["top_imports_s"] = {name: round(seconds, 3) for name, seconds in imports}
    if start_busy is not None:
        others = (machine_busy_seconds() - start_busy) - (children_cpu_seconds() - start_own)
        result["background_cores"] = max(0.0, others / (time.perf_counter() - start_wall))

    print(f"{'':>34} {'wall':>7}   {'CPU':>7}")
    for key, label in (
        ("python", "python -c pass"),
        ("ready", "imports + bundle loaded (ready)"),
        ("one_file", "ser predict, 1 file"),
        ("folder", f"ser predict, folder of {files}"),
    ):
        print(f"{label:>34} {result[key + '_s']:7.3f} s {result[key + '_cpu_s']:7.3f} s")
    print(f"{'  per file':>34} {result['per_file_s']:7.3f} s")
    print(
        f"{'  marginal per extra file':>34} {result['marginal_file_s']:7.3f} s {result['marginal_file_cpu_s']:7.3f} s"
    )
    print(f"{'ready / 1 file':>34} {result['ready_share_of_one_file']:7.1%}")
    if "background_cores" in result:
        print(f"{'cores busy with other programs':>34} {result['background_cores']:7.2f}")
    for name, reason in skipped.items():
        print(f"left out, refused by ser predict: {name}: {reason}")
    print("slowest top-level imports while getting ready (cumulative s):")
    for name, seconds in imports:
        print(f"{name:>34} {seconds:7.3f}")
    report(result, args.json)


if __name__ == "__main__":
    main()
