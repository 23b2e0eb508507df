"""Choose the timeline's settings on the training speakers only (speaker-grouped), then score the choice on the
test speakers once.

    python bench/timeline_select.py --run DIR [--folds 2] [--recordings 8] [--set K=V ...] [--json FILE]

DIR is a project folder after a speaker-split ``dvc repro`` (``data/features.parquet``, ``data/split.csv``,
``data/catalog.csv``, ``data/model``). The training speakers are split into ``--folds`` groups; for each, a model
is fitted on the other training speakers (``params.yaml``'s ``train`` section, as the train stage fits it) and
every ``--set`` setting (as in bench/timeline_accuracy.py) is scored on recordings built from the group's
speakers. The setting with the lowest EDER summed over the groups is then scored on the test speakers' recordings
with the model of DIR (trained on all training speakers): the only figure of the test speakers it prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from common import PROJECT, add_json_output, report  # bench/common.py
from ser.config import load_params
from ser.features.table import feature_columns, read_split_table
from ser.inference.bundle import SpeakerReference, load_bundle, save_bundle
from ser.inference.predictor import Predictor
from ser.modeling.calibration import temperatures_of
from ser.modeling.model import build_model, fit_model
from ser.modeling.normalize import reference_statistics
from ser.timeline.recordings import build_recordings
from ser.timeline.runtime import timeline_of_samples
from ser.timeline.scoring import frame_counts
from timeline_accuracy import setting, test_clips  # bench/timeline_accuracy.py


def score(predictor, recordings, settings, collar: float) -> dict:
    counts = None
    for recording in recordings:
        found = timeline_of_samples(predictor, recording.samples, recording.sample_rate, settings)
        one = frame_counts(recording.truth, found, recording.duration, collar)
        counts = one if counts is None else counts + one
    return counts.scores()


def inner_model(run: Path, params, speakers: list[str], folder: Path) -> Predictor:
    """A bundle like DIR's, fitted on ``speakers`` only."""
    table = read_split_table(run / "data/features.parquet", run / "data/split.csv")
    train = table[table["speaker"].isin(speakers)]
    columns = feature_columns(table)
    features, who = train[columns].to_numpy(), train["speaker"].to_numpy()
    model = fit_model(
        build_model(params.train, columns), features, train["emotion"].to_numpy(), who, params.train.normalize
    )
    mean, std = reference_statistics(features, who)
    _, record = load_bundle(run / "data/model")
    reference = SpeakerReference(mean.tolist(), std.tolist())
    save_bundle(
        folder,
        model,
        dataclasses.replace(record, speaker_reference=reference, calibration=temperatures_of(model), model_sha256=None),
    )
    return Predictor(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], dest="settings")
    add_json_output(parser, "timeline_select")
    args = parser.parse_args()
    params = load_params(PROJECT / "params.yaml")
    base = params.timeline
    evaluation = dataclasses.replace(base.eval, recordings=args.recordings)
    texts = args.settings or [""]
    table = read_split_table(args.run / "data/features.parquet", args.run / "data/split.csv")
    catalog = {c.file: c for c in test_clips(args.run, "train")}
    speakers = sorted(table.loc[table["set"] == "train", "speaker"].unique())
    groups = [list(g) for g in np.array_split(speakers, args.folds)]
    totals = dict.fromkeys(texts, 0.0)
    inner = {}
    for group in groups:
        with tempfile.TemporaryDirectory() as folder:
            predictor = inner_model(args.run, params, [s for s in speakers if s not in group], Path(folder) / "model")
            clips = [c for c in catalog.values() if c.speaker in group]
            recordings = list(build_recordings(clips, evaluation, predictor.sample_rate))
            for text in texts:
                scores = score(predictor, recordings, setting(base, text), evaluation.collar)
                totals[text] += scores["eder"]
                inner[f"{'+'.join(group)}: {text or 'params.yaml'}"] = scores
                print(
                    "held out",
                    "+".join(group),
                    text or "params.yaml",
                    {k: round(v, 3) for k, v in scores.items()},
                    flush=True,
                )
    chosen = min(texts, key=totals.get)
    predictor = Predictor(args.run / "data/model")
    recordings = list(build_recordings(test_clips(args.run), evaluation, predictor.sample_rate))
    test = score(predictor, recordings, setting(base, chosen), evaluation.collar)
    print("chosen", chosen or "params.yaml", "on the test speakers", {k: round(v, 3) for k, v in test.items()})
    report(
        {
            "chosen": chosen or "params.yaml",
            "inner_mean_eder": {t or "params.yaml": v / len(groups) for t, v in totals.items()},
            "test": test,
            "inner": inner,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
