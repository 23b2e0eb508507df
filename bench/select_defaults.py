"""How the defaults were chosen: nested leave-one-speaker-out over feature sets and MLP settings.

    python bench/select_defaults.py --features <features.parquet> [--jobs 2] [--out docs/results/selection.json]

The table is the features stage's output with every whisper layer and the handcrafted families, e.g. from
``dvc exp run -S data.source=../shared/data/ravdess16k -S data.emotions=all -S features.whisper.layers=all``.
The procedure, run once per held-out speaker on the other speakers only, by the library's
:func:`ser.modeling.crossval.nested_leave_one_speaker_out` (once per step):

1. each feature set below is scored by logistic regression (fast) on 3 folds of those speakers;
2. each MLP setting below is scored on the best feature set, on the same folds;
3. the best MLP is fitted on all of those speakers and scored on the held-out one (its temperature, fitted
   separately, changes no label: it is used for the calibration error).

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
from ser.modeling.calibration import temper  # noqa: E402
from ser.modeling.crossval import nested_leave_one_speaker_out  # noqa: E402
from ser.modeling.metrics import expected_calibration_error  # noqa: E402
from ser.modeling.model import build_model, fit_model  # noqa: E402
from ser.modeling.normalize import normalize, normalize_held_out, reference_statistics  # noqa: E402

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


def candidate(params: TrainParams, columns: list[str], indices: list[int]) -> tuple:
    """A candidate of :func:`nested_leave_one_speaker_out`: the model ``params`` builds on the columns ``indices``."""
    return build_model(params, [columns[i] for i in indices]), indices, params.normalize


def select(columns: list[str], X, y, groups, jobs: int) -> tuple[dict, dict]:
    """Steps 1 and 2, nested: the feature sets by the proxy, then the MLP settings on the feature set chosen for
    the same held-out speaker (or, for the defaults, on every speaker)."""
    sets = nested_leave_one_speaker_out(
        {name: candidate(PROXY, columns, set_columns(columns, *chosen)) for name, chosen in FEATURE_SETS.items()},
        X,
        y,
        groups,
        inner_folds=INNER_FOLDS,
        n_jobs=jobs,
    )
    chosen_set = {None: sets["on_every_speaker"]["chosen"], **{f["speaker"]: f["chosen"] for f in sets["folds"]}}

    def mlps_on_chosen_set(held_out) -> dict:
        indices = set_columns(columns, *FEATURE_SETS[chosen_set[held_out]])
        return {name: candidate(params, columns, indices) for name, params in MLPS.items()}

    return sets, nested_leave_one_speaker_out(mlps_on_chosen_set, X, y, groups, inner_folds=INNER_FOLDS, n_jobs=jobs)


def calibrated_probabilities(columns, X, y, groups, held_out, feature_set: str, mlp: str) -> dict:
    """Step 3's MLP with its calibration, fitted on every speaker but ``held_out``: its probabilities for that
    speaker's recordings together and each alone, and its temperature."""
    indices = set_columns(columns, *FEATURE_SETS[feature_set])
    train, test = groups != held_out, groups == held_out
    X_train, X_test = X[train][:, indices], X[test][:, indices]
    model = fit_model(
        build_model(replace(MLPS[mlp], calibrate=True), [columns[i] for i in indices]),
        normalize(X_train, groups[train], "speaker"),
        y[train],
        groups[train],
    )
    reference = reference_statistics(X_train, groups[train])
    rows = normalize_held_out(X_test, groups[test], "speaker", reference)
    together, alone = (model.predict_proba(side) for side in rows)
    return {
        "probabilities": together,
        "probabilities_one_clip": alone,
        "classes": model.classes_,
        "temperature": model[-1].temperature_,
        "emotions": y[test],
    }


def pooled_ece(outer: list[dict], key: str, temperature_off: bool = False) -> float:
    probabilities = [temper(o[key], 1 / o["temperature"]) if temperature_off else o[key] for o in outer]
    return expected_calibration_error(
        np.concatenate([o["emotions"] for o in outer]), np.vstack(probabilities), outer[0]["classes"]
    )


def selection(columns: list[str], X, y, groups, jobs: int) -> dict:
    """The procedure's per-fold choices and scores, their summary, the calibration error and the defaults."""
    sets, mlps = select(columns, X, y, groups, jobs)
    outer = Parallel(n_jobs=jobs)(
        delayed(calibrated_probabilities)(
            columns, X, y, groups, set_fold["speaker"], set_fold["chosen"], mlp_fold["chosen"]
        )
        for set_fold, mlp_fold in zip(sets["folds"], mlps["folds"])
    )
    folds = []
    for index, (set_fold, mlp_fold, probabilities) in enumerate(zip(sets["folds"], mlps["folds"], outer)):
        baseline = sets["candidates"][set_fold["chosen"]]  # the proxy on the chosen set: the linear baseline
        folds.append(
            {
                "speaker": set_fold["speaker"],
                "feature_set": set_fold["chosen"],
                "mlp_setting": mlp_fold["chosen"],
                "inner": {"feature_sets": set_fold["inner"], "mlps": mlp_fold["inner"]},
                "mlp": {
                    "uar": mlp_fold["uar"],
                    "uar_one_clip": mlp_fold["uar_one_clip"],
                    "temperature": probabilities["temperature"],
                },
                "logreg": {
                    "uar": baseline["uar_per_fold"][index],
                    "uar_one_clip": baseline["uar_one_clip_per_fold"][index],
                },
            }
        )

    def mean_and_std(label: str, key: str) -> tuple[float, float]:
        values = [fold[label][key] for fold in folds]
        return float(np.mean(values)), float(np.std(values))

    summary = {label: {key: mean_and_std(label, key) for key in ("uar", "uar_one_clip")} for label in ("mlp", "logreg")}
    ece = {
        "calibrated": pooled_ece(outer, "probabilities"),
        "uncalibrated": pooled_ece(outer, "probabilities", temperature_off=True),
        "calibrated_one_clip": pooled_ece(outer, "probabilities_one_clip"),
        "uncalibrated_one_clip": pooled_ece(outer, "probabilities_one_clip", temperature_off=True),
    }
    defaults = {
        "feature_set": sets["on_every_speaker"]["chosen"],
        "mlp": mlps["on_every_speaker"]["chosen"],
        "inner": {"feature_sets": sets["on_every_speaker"]["inner"], "mlps": mlps["on_every_speaker"]["inner"]},
    }
    return {"folds": folds, "summary": summary, "ece": ece, "defaults": defaults}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("selection.json"))
    args = parser.parse_args()
    table = pd.read_parquet(args.features)
    columns = feature_columns(table)
    X, y, groups = table[columns].to_numpy(), table["emotion"].to_numpy(), table["speaker"].astype(str).to_numpy()
    result = selection(columns, X, y, groups, args.jobs)
    folds, summary, ece, defaults = result["folds"], result["summary"], result["ece"], result["defaults"]
    print("held-out speaker: chosen feature set, chosen MLP; UAR, one-clip UAR (MLP | logistic regression)")
    for f in folds:
        print(
            f"  {f['speaker']}: {f['feature_set']}, {f['mlp_setting']}; {f['mlp']['uar']:.3f}, "
            f"{f['mlp']['uar_one_clip']:.3f} | {f['logreg']['uar']:.3f}, {f['logreg']['uar_one_clip']:.3f}"
        )
    for label, name in (("mlp", "the procedure (MLP)"), ("logreg", "linear baseline (logistic regression)")):
        (uar, uar_sd), (one, one_sd) = summary[label]["uar"], summary[label]["uar_one_clip"]
        print(f"nested, {name}: UAR {uar:.3f} ± {uar_sd:.3f}, one-clip UAR {one:.3f} ± {one_sd:.3f}")
    print(
        "expected calibration error of the pooled outer probabilities (10 bins): "
        + ", ".join(f"{key} {value:.3f}" for key, value in ece.items())
    )
    print(f"on every speaker, the procedure chooses: {defaults['feature_set']}, {defaults['mlp']}")
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
