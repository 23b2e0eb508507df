"""How the defaults were chosen: nested leave-one-speaker-out over feature sets and MLP settings.

    python bench/select_defaults.py --features <features.parquet> [--jobs 2] [--out docs/results/selection.json]

The table is the features stage's output with every whisper layer and the handcrafted families, e.g. from
``dvc exp run -S data.source=../shared/data/ravdess16k -S data.emotions=all -S features.whisper.layers=all``.
The procedure, run once per held-out speaker on the other speakers only:

1. each feature set below is scored by logistic regression (fast) on 3 folds of those speakers;
2. each MLP setting below is scored on the best feature set, on the same folds;
3. the best MLP is fitted, with its calibration, on all of those speakers and scored on the held-out one.

A candidate's score is the mean of its UAR with a speaker's recordings together and its one-clip UAR (each
recording alone, as ``ser predict`` takes one file), so the choice weighs how the page and the API are used.
The held-out speaker takes no part in its fold's choice: the outer scores are an honest estimate of the whole
procedure. The same procedure on all speakers gives the defaults. Also printed: logistic regression on the
chosen feature set (the linear baseline, on the same outer folds), and the expected calibration error of the
outer probabilities with and without the temperature.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ser.config import LogregParams, TrainParams  # noqa: E402
from ser.features.table import feature_columns  # noqa: E402
from ser.modeling.crossval import fit_predict  # noqa: E402
from ser.modeling.metrics import expected_calibration_error, summary_scores  # noqa: E402
from ser.modeling.calibration import temper  # noqa: E402
from ser.modeling.model import build_model, fit_model  # noqa: E402
from ser.modeling.normalize import normalize, normalize_each_alone, reference_statistics  # noqa: E402

LAYER = re.compile(r"whisper_layer(\d+)_")
FEATURE_SETS = {  # name: which columns (whisper layers; handcrafted = every non-whisper family)
    "layer 6 (the previous default)": ({6}, False),
    "layers 2-4": ({2, 3, 4}, False),
    "layers 1-6": ({1, 2, 3, 4, 5, 6}, False),
    "layers 2-4 + handcrafted": ({2, 3, 4}, True),
    "layers 1-6 + handcrafted": ({1, 2, 3, 4, 5, 6}, True),
}
BASE = TrainParams(normalize="speaker", calibrate=False)  # selection by labels: a temperature changes none
PROXY = replace(BASE, model="logreg", logreg=LogregParams(C=0.01))
MLPS = {  # name: train.* of the candidate
    "MLP 64, alpha 0.1 (the previous default)": replace(BASE, hidden_layer_sizes=(64,), alpha=0.1, ensemble=1),
    "5 MLPs 64, alpha 1": replace(BASE, hidden_layer_sizes=(64,), alpha=1.0, ensemble=5),
    "5 MLPs 64, alpha 3": replace(BASE, hidden_layer_sizes=(64,), alpha=3.0, ensemble=5),
}
INNER_FOLDS = 3


def set_columns(columns: list[str], layers: set[int], handcrafted: bool) -> list[int]:
    def wanted(name: str) -> bool:
        match = LAYER.match(name)
        return int(match[1]) in layers if match else handcrafted and not name.startswith("whisper_")
    return [i for i, name in enumerate(columns) if wanted(name)]


def inner_score(params: TrainParams, columns: list[str], indices: list[int], X, y, groups, speakers) -> float:
    """Mean over folds of the speakers of (UAR + one-clip UAR) / 2."""
    scores = []
    for k in range(INNER_FOLDS):
        held = np.isin(groups, speakers[k::INNER_FOLDS])
        train, test = np.flatnonzero(np.isin(groups, speakers) & ~held), np.flatnonzero(held)
        model = build_model(params, [columns[i] for i in indices])
        together, alone = fit_predict(model, X[:, indices], y, groups, train, test, params.normalize)
        scores.append((summary_scores(y[test], together)["uar"] + summary_scores(y[test], alone)["uar"]) / 2)
    return float(np.mean(scores))


def choose(columns, X, y, groups, speakers) -> tuple[str, str, dict]:
    """The procedure on ``speakers``: the feature set by the proxy, then the MLP on it."""
    set_scores = {name: inner_score(PROXY, columns, set_columns(columns, *chosen), X, y, groups, speakers)
                  for name, chosen in FEATURE_SETS.items()}
    feature_set = max(set_scores, key=set_scores.get)
    indices = set_columns(columns, *FEATURE_SETS[feature_set])
    mlp_scores = {name: inner_score(params, columns, indices, X, y, groups, speakers) for name, params in MLPS.items()}
    return feature_set, max(mlp_scores, key=mlp_scores.get), {"feature_sets": set_scores, "mlps": mlp_scores}


def outer_fold(columns, X, y, groups, held_out) -> dict:
    speakers = [s for s in np.unique(groups) if s != held_out]
    feature_set, mlp, scores = choose(columns, X, y, groups, speakers)
    indices = set_columns(columns, *FEATURE_SETS[feature_set])
    train, test = np.flatnonzero(groups != held_out), np.flatnonzero(groups == held_out)
    result = {"speaker": str(held_out), "feature_set": feature_set, "mlp_setting": mlp, "inner": scores}
    names = [columns[i] for i in indices]
    reference = reference_statistics(X[train][:, indices], groups[train])
    together_rows = normalize(X[test][:, indices], groups[test], "speaker")
    alone_rows = normalize_each_alone(X[test][:, indices], "speaker", reference)
    for label, params in (("mlp", replace(MLPS[mlp], calibrate=True)), ("logreg", PROXY)):
        model = fit_model(build_model(params, names), normalize(X[train][:, indices], groups[train], "speaker"),
                          y[train], groups[train])
        together, alone = model.predict_proba(together_rows), model.predict_proba(alone_rows)
        result[label] = {"uar": summary_scores(y[test], model.classes_[together.argmax(1)])["uar"],
                         "uar_one_clip": summary_scores(y[test], model.classes_[alone.argmax(1)])["uar"],
                         "probabilities": together.tolist(), "probabilities_one_clip": alone.tolist(),
                         "classes": [str(c) for c in model.classes_]}
        if label == "mlp":  # the same model before its temperature
            result[label]["temperature"] = model[-1].temperature_
    result["emotions"] = [str(e) for e in y[test]]
    return result


def pooled_ece(folds, label: str, key: str, temperature_off: bool = False) -> float:
    probabilities, emotions = [], []
    for fold in folds:
        p = np.asarray(fold[label][key])
        probabilities.append(temper(p, 1 / fold[label]["temperature"]) if temperature_off else p)
        emotions += fold["emotions"]
    return expected_calibration_error(emotions, np.vstack(probabilities), folds[0][label]["classes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("selection.json"))
    args = parser.parse_args()
    table = pd.read_parquet(args.features)
    columns = feature_columns(table)
    X, y, groups = table[columns].to_numpy(), table["emotion"].to_numpy(), table["speaker"].astype(str).to_numpy()
    jobs = [delayed(outer_fold)(columns, X, y, groups, s) for s in np.unique(groups)]
    jobs.append(delayed(choose)(columns, X, y, groups, list(np.unique(groups))))
    *folds, final = Parallel(n_jobs=args.jobs, verbose=5)(jobs)
    summary = {label: {key: (float(np.mean([f[label][key] for f in folds])), float(np.std([f[label][key] for f in folds])))
                       for key in ("uar", "uar_one_clip")} for label in ("mlp", "logreg")}
    ece = {"calibrated": pooled_ece(folds, "mlp", "probabilities"),
           "uncalibrated": pooled_ece(folds, "mlp", "probabilities", temperature_off=True),
           "calibrated_one_clip": pooled_ece(folds, "mlp", "probabilities_one_clip"),
           "uncalibrated_one_clip": pooled_ece(folds, "mlp", "probabilities_one_clip", temperature_off=True)}
    print("held-out speaker: chosen feature set, chosen MLP; UAR, one-clip UAR (MLP | logistic regression)")
    for f in folds:
        print(f"  {f['speaker']}: {f['feature_set']}, {f['mlp_setting']}; {f['mlp']['uar']:.3f}, "
              f"{f['mlp']['uar_one_clip']:.3f} | {f['logreg']['uar']:.3f}, {f['logreg']['uar_one_clip']:.3f}")
    for label, name in (("mlp", "the procedure (MLP)"), ("logreg", "linear baseline (logistic regression)")):
        (uar, uar_sd), (one, one_sd) = summary[label]["uar"], summary[label]["uar_one_clip"]
        print(f"nested, {name}: UAR {uar:.3f} ± {uar_sd:.3f}, one-clip UAR {one:.3f} ± {one_sd:.3f}")
    print("expected calibration error of the pooled outer probabilities (10 bins): " +
          ", ".join(f"{key} {value:.3f}" for key, value in ece.items()))
    print(f"on every speaker, the procedure chooses: {final[0]}, {final[1]}")
    for fold in folds:  # the result file keeps scores and choices, not every probability
        for label in ("mlp", "logreg"):
            for key in ("probabilities", "probabilities_one_clip", "classes"):
                del fold[label][key]
        del fold["emotions"]
    args.out.write_text(json.dumps({"folds": folds, "summary": summary, "ece": ece,
                                    "defaults": {"feature_set": final[0], "mlp": final[1], "inner": final[2]}},
                                   indent=1) + "\n")


if __name__ == "__main__":
    main()
