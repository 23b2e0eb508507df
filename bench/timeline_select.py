"""Choose the timeline's settings on the training speakers only (speaker-grouped), then score the choice on the
test speakers once.

    python bench/timeline_select.py --run DIR [--rows windows|clips] [--folds 2] [--recordings 8] [--set K=V ...]
        [--json FILE]

DIR is a project folder after a speaker-split ``dvc repro`` (``params.yaml``, ``data/catalog.csv``,
``data/split.csv``, and ``data/features.parquet`` for ``--rows clips``). The training speakers are split into
``--folds`` groups; for each, a model is fitted on the other training speakers with DIR's ``train`` section, as
the pipeline fits it: on the windows of their clips' speech (``--rows windows``, the train_timeline stage's
rows, :mod:`ser.timeline.training`, cached in DIR/.cache/windows; one model per distinct window, hop and speech
setting) or on their whole clips (``--rows clips``, the train stage's rows). Every ``--set`` setting (as in
bench/timeline_accuracy.py) is scored on recordings built from the group's speakers. The setting with the lowest
EDER summed over the groups is then scored on the test speakers' recordings, with a model fitted the same way
on all training speakers: the only figure of the test speakers it prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from common import add_json_output, report  # bench/common.py
from ser.config import load_params
from ser.corpus.catalog import read_catalog
from ser.features.table import feature_columns, read_split_table
from ser.inference.bundle import ModelRecord, WindowTraining, save_bundle
from ser.inference.predictor import Predictor
from ser.modeling.model import train_model
from ser.timeline.recordings import build_recordings
from ser.timeline.runtime import timeline_of_samples
from ser.timeline.scoring import frame_counts
from ser.timeline.training import window_table
from timeline_accuracy import setting, test_clips  # bench/timeline_accuracy.py


def score(predictor, recordings, settings, collar: float) -> dict:
    counts = None
    for recording in recordings:
        found = timeline_of_samples(predictor, recording.samples, recording.sample_rate, settings)
        one = frame_counts(recording.truth, found, recording.duration, collar)
        counts = one if counts is None else counts + one
    return counts.scores()


def training_rows(run: Path, params, settings, speakers: list[str], rows: str) -> pd.DataFrame:
    """The training rows of ``speakers``: the windows of their clips' speech, or their clips' features."""
    if rows == "clips":
        table = read_split_table(run / "data/features.parquet", run / "data/split.csv")
        return table[table["speaker"].isin(speakers)]
    train = {row["file"] for row in read_catalog(run / "data/split.csv", ("file", "set")) if row["set"] == "train"}
    clips = [
        clip
        for clip in read_catalog(run / "data/catalog.csv", ("file", "path", "speaker", "emotion", "sha256"))
        if clip["file"] in train and clip["speaker"] in speakers
    ]
    return window_table(clips, params.features, params.audio.sample_rate, settings, run / ".cache/windows")[0]


def fitted_model(run: Path, params, settings, speakers: list[str], rows: str, folder: Path) -> Predictor:
    """A bundle fitted as the pipeline fits its model of ``rows`` (with ``settings``' windows), on ``speakers``."""
    table = training_rows(run, params, settings, speakers, rows)
    columns = feature_columns(table)
    model = train_model(
        params.train, columns, table[columns].to_numpy(), table["emotion"].to_numpy(), table["speaker"].to_numpy()
    )
    windows = WindowTraining(settings.window, settings.hop, settings.vad, len(table)) if rows == "windows" else None
    save_bundle(folder, model, ModelRecord.from_training(model, params, table, columns, windows))
    return Predictor(folder)


def rows_key(settings, rows: str) -> tuple:
    """What decides the training rows: nothing for whole clips; the window, hop and speech settings for windows."""
    return () if rows == "clips" else (settings.window, settings.hop, settings.vad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--rows", choices=("windows", "clips"), default="windows")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], dest="settings")
    add_json_output(parser, "timeline_select")
    args = parser.parse_args()
    params = load_params(args.run / "params.yaml")
    base = params.timeline
    evaluation = dataclasses.replace(base.eval, recordings=args.recordings)
    texts = args.settings or [""]
    chosen_settings = {text: setting(base, text) for text in texts}
    train_clips = test_clips(args.run, "train")
    speakers = sorted({clip.speaker for clip in train_clips})
    groups = [list(g) for g in np.array_split(speakers, args.folds)]
    totals = dict.fromkeys(texts, 0.0)
    inner = {}
    for group in groups:
        recordings = list(
            build_recordings([c for c in train_clips if c.speaker in group], evaluation, params.audio.sample_rate)
        )
        others = [s for s in speakers if s not in group]
        models: dict[tuple, Predictor] = {}
        with tempfile.TemporaryDirectory() as folder:
            for text in texts:
                settings = chosen_settings[text]
                key = rows_key(settings, args.rows)
                if key not in models:
                    where = Path(folder) / f"model{len(models)}"
                    models[key] = fitted_model(args.run, params, settings, others, args.rows, where)
                scores = score(models[key], recordings, settings, evaluation.collar)
                totals[text] += scores["eder"]
                inner[f"{'+'.join(group)}: {text or 'params.yaml'}"] = scores
                print("held out", "+".join(group), text or "params.yaml", {k: round(v, 3) for k, v in scores.items()})
    chosen = min(texts, key=totals.get)
    with tempfile.TemporaryDirectory() as folder:
        predictor = fitted_model(args.run, params, chosen_settings[chosen], speakers, args.rows, Path(folder) / "m")
        recordings = list(build_recordings(test_clips(args.run), evaluation, params.audio.sample_rate))
        test = score(predictor, recordings, chosen_settings[chosen], evaluation.collar)
    print("chosen", chosen or "params.yaml", "on the test speakers", {k: round(v, 3) for k, v in test.items()})
    report(
        {
            "rows": args.rows,
            "chosen": chosen or "params.yaml",
            "inner_mean_eder": {t or "params.yaml": v / len(groups) for t, v in totals.items()},
            "test": test,
            "inner": inner,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
