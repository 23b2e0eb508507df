"""The timeline stage's scores when its recordings pass through a telephone line, noise or a room.

    python bench/timeline_channels.py --run DIR [--channels "phone 3400" "noise 10" ...] [--json FILE]

``--run`` is a clone of the repository whose pipeline has run on a real corpus as far as the timeline stage (see
docs/timeline.md, "Measured on real speech"). For each channel (and first with none), ``dvc exp run timeline -S
timeline.eval.channel=...`` re-runs that stage alone there: the same recordings of the test speakers, the same
model, the sound changed by ``ser.features.augment``'s perturbation. The run's params are left with no channel.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

import yaml

from common import add_json_output, report  # bench/common.py

CHANNELS = ("phone 3400", "noise 20", "noise 10", "reverb 0.3", "reverb 0.8")
KEPT = ("eder", "frame_uar", "missed", "false_alarm", "confusion")


def scored(run: Path, channel: str | None) -> dict:
    """The timeline stage's metrics in ``run`` with its recordings through ``channel`` (None: as built)."""
    setting = f"timeline.eval.channel={channel or 'null'}"
    subprocess.run(["dvc", "exp", "run", "timeline", "-S", setting], cwd=run, check=True, capture_output=True)
    metrics = json.loads((run / "metrics" / "timeline.json").read_text())
    return {"channel": channel or "none", **{key: metrics[key] for key in KEPT}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a clone whose pipeline ran on a real corpus")
    parser.add_argument("--channels", nargs="+", default=list(CHANNELS))
    add_json_output(parser, "timeline_channels")
    args = parser.parse_args()
    runs = [scored(args.run, channel) for channel in (None, *args.channels)]
    scored(args.run, None)  # the run's params as they were
    with open(args.run / "data" / "split.csv", newline="") as handle:
        split = [(row["speaker"], row["set"]) for row in csv.DictReader(handle)]
    settings = yaml.safe_load((args.run / "params.yaml").read_text())["timeline"]["eval"]
    result = {
        "recordings": settings["recordings"],
        "seconds": settings["seconds"],
        **{f"{s}_speakers": sorted({speaker for speaker, set_ in split if set_ == s}) for s in ("train", "test")},
        "runs": runs,
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
