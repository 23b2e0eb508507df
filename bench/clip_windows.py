"""Does training the clip model on windows of each clip beat training it on whole clips? Leave-one-speaker-out.

    python bench/clip_windows.py --run DIR [--window 1.5] [--hop 0.5] [--json FILE]

DIR is a project folder after ``dvc repro features split`` on a corpus (``params.yaml``, ``data/catalog.csv``,
``data/features.parquet``). For each speaker held out, two models of DIR's ``train`` section (uncalibrated:
calibration changes no label) are fitted on the other speakers, each speaker's rows normalised together:

* ``clips``: one row per clip, the features stage's (the pipeline's clip model);
* ``windows``: the rows of :mod:`ser.timeline.training` with ``--window`` and ``--hop`` (each clip's speech cut
  into windows pooled from one encoding, and its speech whole); a clip's label is the top emotion of its rows'
  mean probabilities.

Both predict the held-out speaker's clips with the speaker's rows normalised together (``uar``) and each clip
alone against the training speakers' average statistics, as ``ser predict one.wav`` does (``uar_one_clip``).
Clips in which the speech detector finds nothing (no window rows) are left out of both models' scores. Prints
each speaker's scores and the means; the last line is JSON.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from common import add_json_output, report  # bench/common.py
from ser.config import load_params
from ser.corpus.catalog import read_catalog
from ser.features.table import feature_columns
from ser.modeling.crossval import fit_predict
from ser.modeling.metrics import held_out_scores
from ser.modeling.model import build_model, fit_model, without_calibration
from ser.modeling.normalize import normalize_by_speaker, normalize_new_speakers, reference_statistics
from ser.timeline.training import window_table


def window_labels(params, table: pd.DataFrame, columns: list[str], held_out: str) -> tuple[pd.Series, pd.Series]:
    """Each held-out clip's label from a model fitted on the other speakers' window rows: the speaker's rows
    normalised together, and each clip's rows alone."""
    train, test = table[table["speaker"] != held_out], table[table["speaker"] == held_out]
    X, speakers = train[columns].to_numpy(), train["speaker"].to_numpy()
    model = clone(without_calibration(build_model(params.train, columns)))
    model = fit_model(model, X, train["emotion"].to_numpy(), speakers, "speaker")
    X_test = test[columns].to_numpy()
    labels = []
    for normalised in (
        normalize_by_speaker(X_test, test["speaker"].to_numpy()),
        normalize_new_speakers(X_test, test["file"].to_numpy(), reference_statistics(X, speakers)),
    ):
        mean = pd.DataFrame(model.predict_proba(normalised), index=test["file"].to_numpy()).groupby(level=0).mean()
        labels.append(pd.Series(model.classes_[mean.to_numpy().argmax(axis=1)], index=mean.index))
    return labels[0], labels[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--window", type=float, default=1.5)
    parser.add_argument("--hop", type=float, default=0.5)
    add_json_output(parser, "clip_windows")
    args = parser.parse_args()
    params = load_params(f"{args.run}/params.yaml")
    if params.train.normalize != "speaker":
        parser.error("the comparison normalises each speaker's rows together: train.normalize must be speaker")
    settings = dataclasses.replace(params.timeline, window=args.window, hop=args.hop)
    clips = read_catalog(f"{args.run}/data/catalog.csv", ("file", "path", "speaker", "emotion", "sha256"))
    windows = window_table(clips, params.features, params.audio.sample_rate, settings, f"{args.run}/.cache/windows")[0]
    features = pd.read_parquet(f"{args.run}/data/features.parquet")
    features = features[features["file"].isin(set(windows["file"]))].reset_index(drop=True)
    columns = feature_columns(features)
    X, y, groups = features[columns].to_numpy(), features["emotion"].to_numpy(), features["speaker"].to_numpy()
    speakers = sorted(set(groups))
    print(f"{len(windows)} window rows of {len(features)} clips ({len(clips) - len(features)} without speech left out)")
    clip_results = Parallel(n_jobs=-1)(
        delayed(fit_predict)(
            build_model(params.train, columns),
            X,
            y,
            groups,
            np.flatnonzero(groups != s),
            np.flatnonzero(groups == s),
            params.train.normalize,
        )
        for s in speakers
    )
    window_results = Parallel(n_jobs=-1)(delayed(window_labels)(params, windows, columns, s) for s in speakers)
    result = {"window": args.window, "hop": args.hop, "rows": len(windows), "clips": len(features), "speakers": {}}
    for s, (together, alone), (w_together, w_alone) in zip(speakers, clip_results, window_results):
        files = features.loc[groups == s, "file"].to_numpy()
        truth = y[groups == s]
        result["speakers"][s] = {
            "clips": held_out_scores(truth, together, alone),
            "windows": held_out_scores(truth, w_together[files].to_numpy(), w_alone[files].to_numpy()),
        }
        print(s, {k: {m: round(v[m], 3) for m in ("uar", "uar_one_clip")} for k, v in result["speakers"][s].items()})
    for kind in ("clips", "windows"):
        for metric in ("uar", "uar_one_clip"):
            values = [scores[kind][metric] for scores in result["speakers"].values()]
            result[f"{kind}_{metric}_mean"], result[f"{kind}_{metric}_std"] = (
                float(np.mean(values)),
                float(np.std(values)),
            )
    print({k: round(v, 3) for k, v in result.items() if k.endswith(("_mean", "_std"))})
    report(result, args.json)


if __name__ == "__main__":
    main()
