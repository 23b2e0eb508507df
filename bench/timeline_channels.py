"""The timeline stage's scores when its recordings pass through a telephone line, noise or a room, with the
timeline's model trained on the clips as they are and on their perturbed copies too.

    python bench/timeline_channels.py --run DIR [--channels "phone 3400" "noise 10" ...]
        [--copies "" "phone 3400" "phone 3400,reverb 0.5" ...] [--json FILE]

``--run`` is a clone of the repository whose pipeline has run on a real corpus as far as the timeline stage (see
docs/timeline.md, "Measured on real speech"). For each set of training copies (``--copies``, comma-separated;
``""`` none) and each channel (and first with none), ``dvc exp run timeline -S features.augment.copies=[...] -S
timeline.eval.channel=...`` there: the windows and the model are made again when the copies change, then the
timeline stage scores the same recordings of the test speakers, their sound changed by ``ser.features.augment``'s
perturbation. The run's params are left with no copies and no channel.
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


def scored(run: Path, copies: list[str], channel: str | None) -> dict:
    """The timeline stage's metrics in ``run`` with the model trained beside ``copies`` and its recordings through
    ``channel`` (None: as built)."""
    settings = [f"features.augment.copies={json.dumps(copies)}", f"timeline.eval.channel={channel or 'null'}"]
    command = ["dvc", "exp", "run", "timeline", *(part for s in settings for part in ("-S", s))]
    subprocess.run(command, cwd=run, check=True, stdout=subprocess.DEVNULL)  # DVC's errors reach the terminal
    metrics = json.loads((run / "metrics" / "timeline.json").read_text())
    return {"channel": channel or "none", **{key: metrics[key] for key in KEPT}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a clone whose pipeline ran on a real corpus")
    parser.add_argument("--channels", nargs="+", default=list(CHANNELS))
    parser.add_argument("--copies", nargs="+", default=["", "phone 3400"], help="sets of training copies")
    add_json_output(parser, "timeline_channels")
    args = parser.parse_args()
    trainings = []
    for text in args.copies:
        copies = [copy.strip() for copy in text.split(",") if copy.strip()]
        runs = [scored(args.run, copies, channel) for channel in (None, *args.channels)]
        trainings.append({"copies": copies, "runs": runs})
    scored(args.run, [], None)  # the run's params as they were
    with open(args.run / "data" / "split.csv", newline="") as handle:
        split = [(row["speaker"], row["set"]) for row in csv.DictReader(handle)]
    settings = yaml.safe_load((args.run / "params.yaml").read_text())["timeline"]["eval"]
    result = {
        "recordings": settings["recordings"],
        "seconds": settings["seconds"],
        **{f"{s}_speakers": sorted({speaker for speaker, set_ in split if set_ == s}) for s in ("train", "test")},
        "trainings": trainings,
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
