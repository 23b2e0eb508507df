"""Benchmark `ser predict` as a user meets it: fresh processes, wall-clock seconds.

    python bench/predict.py [--model model] [--data ../shared/data/ravdess16k] [--repeat 5]

Every figure is the median over ``--repeat`` fresh processes (``python -m ser``, the
same code path as the ``ser`` script):

* python_s: a bare ``python -c pass``, the floor no command can beat;
* ready_s: import everything predicting needs and load the bundle (``Predictor(model)``),
  no audio;
* one_file_s: ``ser predict`` on one 4-second file;
* folder_s / per_file_s: ``ser predict`` on a folder of ``--files`` copies of real files,
  and that time divided by the number of files;
* marginal_file_s: (folder_s - one_file_s) / (files - 1), the cost of one more file
  once the process is up.

Then the modules that dominate ready_s (``python -X importtime``, cumulative, top
level). The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def wall(command: list[str], repeat: int) -> float:
    """Median wall seconds of ``command`` over ``repeat`` fresh processes (each must succeed)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return statistics.median(times)


def top_imports(model: Path, count: int) -> list[tuple[str, float]]:
    """Top-level modules by cumulative import seconds while getting a predictor ready."""
    code = f"from ser.predict import Predictor; Predictor({str(model)!r})"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    modules = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # depth 0: ' name'
            modules.append((name.strip(), int(cumulative) / 1e6))
    return sorted(modules, key=lambda item: -item[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=PROJECT / "model", help="bundle folder (default: model)")
    parser.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "ravdess16k",
                        help="folder of real audio files (searched recursively)")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per figure (median)")
    parser.add_argument("--files", type=int, default=100, help="files in the folder run")
    args = parser.parse_args()
    sources = sorted(args.data.rglob("*.wav"))
    if len(sources) < args.files:
        raise SystemExit(f"{args.data} holds {len(sources)} .wav files; --files {args.files} needs that many")
    chosen = sources[:: len(sources) // args.files][: args.files]
    ser = [sys.executable, "-m", "ser", "predict", "--model", str(args.model)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "recordings"
        folder.mkdir()
        for i, source in enumerate(chosen):
            shutil.copyfile(source, folder / f"{i:03d}_{source.name}")
        one = str(folder / sorted(p.name for p in folder.iterdir())[0])
        wall(ser + [one], 1)  # warm the OS file cache and Python's bytecode caches
        result = {
            "files": args.files,
            "repeat": args.repeat,
            "python_s": wall([sys.executable, "-c", "pass"], args.repeat),
            "ready_s": wall([sys.executable, "-c",
                             f"from ser.predict import Predictor; Predictor({str(args.model)!r})"], args.repeat),
            "one_file_s": wall(ser + [one], args.repeat),
            "folder_s": wall(ser + [str(folder)], args.repeat),
        }
    result["per_file_s"] = result["folder_s"] / args.files
    result["marginal_file_s"] = (result["folder_s"] - result["one_file_s"]) / (args.files - 1)
    result["ready_share_of_one_file"] = result["ready_s"] / result["one_file_s"]
    imports = top_imports(args.model, 8)
    result["top_imports_s"] = {name: round(seconds, 3) for name, seconds in imports}

    print(f"{'python -c pass':>34} {result['python_s']:7.3f} s")
    print(f"{'imports + bundle loaded (ready)':>34} {result['ready_s']:7.3f} s")
    print(f"{'ser predict, 1 file':>34} {result['one_file_s']:7.3f} s")
    print(f"{f'ser predict, folder of {args.files}':>34} {result['folder_s']:7.3f} s")
    print(f"{'  per file':>34} {result['per_file_s']:7.3f} s")
    print(f"{'  marginal per extra file':>34} {result['marginal_file_s']:7.3f} s")
    print(f"{'ready / 1 file':>34} {result['ready_share_of_one_file']:7.1%}")
    print("slowest top-level imports while getting ready (cumulative s):")
    for name, seconds in imports:
        print(f"{name:>34} {seconds:7.3f}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
