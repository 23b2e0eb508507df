"""How well the timeline labels long recordings of speakers a model never heard, for several settings.

    python bench/timeline_accuracy.py --run DIR [--recordings 8] [--set timeline.window=3 ...] [--json FILE]

DIR is a project folder after a speaker-split ``dvc repro`` (it reads ``data/catalog.csv``, ``data/split.csv``
and the timeline model ``data/timeline_model``, or the bundle ``--model`` names). Recordings are built from the
test split's speakers (:mod:`ser.timeline.recordings`, with
``params.yaml``'s ``timeline.eval``), run through :func:`ser.timeline.runtime.timeline_of_samples` and scored
(:mod:`ser.timeline.scoring`). Each ``--set KEY=VALUE`` (repeatable, ``;``-separated for several keys at once)
is one setting of the ``timeline`` section scored on the same recordings; the windows' probabilities are
computed once per distinct window, hop and speech setting. Prints one line per setting; the last line is JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import pandas as pd
import yaml

from common import PROJECT, add_json_output, report  # bench/common.py
from ser.config import TimelineParams, load_params
from ser.inference.predictor import Predictor
from ser.timeline.recordings import Clip, build_recordings
from ser.timeline.runtime import timeline_of_samples
from ser.timeline.scoring import frame_counts


def setting(base: TimelineParams, text: str) -> TimelineParams:
    """``base`` with ``key=value;key=value`` applied (keys below ``timeline.``, values in YAML)."""
    raw = dataclasses.asdict(base)
    for pair in filter(None, text.split(";")):
        key, value = pair.split("=", 1)
        *parents, name = key.removeprefix("timeline.").split(".")
        target = raw
        for parent in parents:
            target = target[parent]
        target[name] = yaml.safe_load(value)
    return TimelineParams(**raw)


def test_clips(run: Path, part: str = "test") -> list[Clip]:
    """The clips of the split's ``part`` (test or train), with their paths from the catalogue."""
    split = pd.read_csv(run / "data/split.csv", dtype=str)
    catalog = pd.read_csv(run / "data/catalog.csv", dtype=str)
    chosen = split[split["set"] == part].merge(catalog[["file", "path"]], on="file")
    return [Clip(r.file, r.path, r.speaker, r.emotion) for r in chosen.itertuples()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--model", type=Path, help="bundle folder (default: DIR/data/timeline_model)")
    parser.add_argument("--recordings", type=int, help="overrides timeline.eval.recordings")
    parser.add_argument("--set", action="append", default=[], dest="settings")
    add_json_output(parser, "timeline_accuracy")
    args = parser.parse_args()
    base = load_params(PROJECT / "params.yaml").timeline
    evaluation = base.eval if args.recordings is None else dataclasses.replace(base.eval, recordings=args.recordings)
    predictor = Predictor(args.model or args.run / "data/timeline_model")
    recordings = list(build_recordings(test_clips(args.run), evaluation, predictor.sample_rate))
    results = {}
    for text in args.settings or [""]:
        settings = setting(base, text)
        counts, busy, heard = None, 0.0, 0.0
        for recording in recordings:
            start = time.process_time()
            found = timeline_of_samples(predictor, recording.samples, recording.sample_rate, settings)
            busy += time.process_time() - start
            heard += recording.duration
            one = frame_counts(recording.truth, found, recording.duration, evaluation.collar)
            counts = one if counts is None else counts + one
        scores = counts.scores() | {"x_real_time_one_core": heard / busy}
        results[text or "params.yaml"] = scores
        print(text or "params.yaml", {k: round(v, 3) for k, v in scores.items()}, flush=True)
    report({"recordings": len(recordings), "settings": results}, args.json)


if __name__ == "__main__":
    main()
