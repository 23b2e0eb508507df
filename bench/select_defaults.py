"""How the defaults were chosen: nested leave-one-speaker-out over feature sets and MLP settings.

    python bench/select_defaults.py --features <features.parquet> [--jobs 2] [--out docs/results/selection.json]
    python bench/select_defaults.py --features <features.parquet> --choices docs/results/selection.json [--out ...]

The table is the features stage's output with every whisper layer and the handcrafted families, e.g. from
``dvc exp run -S data.source=../shared/data/ravdess16k -S data.emotions=all -S features.whisper.layers=all``.
The procedure, run once per held-out speaker on the other speakers only, by the library's
:func:`ser.modeling.crossval.nested_leave_one_speaker_out` (once per step):

1. each feature set below is scored by logistic regression (fast) on 3 folds of those speakers;
2. each MLP setting below is scored on the best feature set, on the same folds;
3. the best MLP is fitted, with its calibration, on all of those speakers and scored on the held-out one: its
   recordings together, each alone, and each with k = 1, 2, 4 other recordings of that speaker given as
   enrollment (drawn at random, never the predicted one; normalised together, as ``ser predict --enroll`` does).
   Its temperatures, one per normalisation mode and fitted separately, change no label: they give the
   calibration errors.

With ``--choices`` (a selection.json this script wrote), steps 1 and 2 are not run again: each held-out speaker's
choices, made without it, are read from that file with the linear baseline's scores, and only step 3 runs.

A candidate's score is the mean of its UAR with a speaker's recordings together and its one-clip UAR (each
recording alone, as ``ser predict`` takes one file), so the choice weighs how the page and the API are used.
The held-out speaker takes no part in its fold's choice: the outer scores are an honest estimate of the whole
procedure. The same procedure on all speakers gives the defaults. Also printed: logistic regression on the
chosen feature set (the linear baseline, on the same outer folds), and the expected calibration error of the
outer probabilities: without calibration, with one temperature fitted on speakers' recordings together (applied
to lone clips too), and with a temperature per normalisation mode (what ``train.calibrate`` fits).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
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
from ser.modeling.metrics import expected_calibration_error, summary_scores  # noqa: E402
from ser.modeling.model import build_model, fit_model  # noqa: E402
from ser.modeling.normalize import new_speaker_statistics, normalize_held_out, reference_statistics  # noqa: E402

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
ENROLLED = (1, 2, 4)  # enrollment recordings given with each held-out clip in step 3


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
    """Step 3's MLP with its calibration, fitted on every speaker but ``held_out``: its probabilities without
    calibration for that speaker's recordings together, each alone and each with ``k`` enrollment recordings of
    ``ENROLLED``, and its temperature fitted in each normalisation mode (``per_mode``, so both are measured)."""
    indices = set_columns(columns, *FEATURE_SETS[feature_set])
    train, test = groups != held_out, groups == held_out
    X_train, X_test = X[train][:, indices], X[test][:, indices]
    model = fit_model(
        build_model(replace(MLPS[mlp], calibrate=True, calibrate_per_mode=True), [columns[i] for i in indices]),
        X_train,
        y[train],
        groups[train],
        "speaker",
    )
    reference = reference_statistics(X_train, groups[train])
    together, alone = normalize_held_out(X_test, groups[test], "speaker", reference)
    raw = model[:-1].transform, model[-1].classifier_.predict_proba
    return {
        "probabilities": raw[1](raw[0](together)),
        "probabilities_one_clip": raw[1](raw[0](alone)),
        **{f"probabilities_enrolled_{k}": raw[1](raw[0](enrolled(X_test, k, reference))) for k in ENROLLED},
        "classes": model.classes_,
        "temperature": model[-1].temperatures_,
        "emotions": y[test],
    }


def enrolled(X, k: int, reference) -> np.ndarray:
    """Each row of one speaker's ``X`` standardised with ``k`` other rows of ``X`` drawn at random (the same draws
    on every run), as ``ser predict one.wav --enroll`` standardises a clip with its enrollment recordings."""
    rng = np.random.default_rng(k)
    out = np.empty_like(X, dtype=np.float64)
    for i in range(len(X)):
        others = rng.choice(np.delete(np.arange(len(X)), i), k, replace=False)
        mean, std = new_speaker_statistics(X[np.r_[i, others]], reference)
        out[i] = (X[i] - mean) / std
    return out


def pooled_ece(outer: list[dict], key: str, mode: str | None) -> float:
    """The calibration error of the ``key`` probabilities pooled over the outer folds, at each fold's temperature
    of ``mode`` (None: without calibration)."""
    probabilities = [o[key] if mode is None else temper(o[key], o["temperature"][mode]) for o in outer]
    return expected_calibration_error(
        np.concatenate([o["emotions"] for o in outer]), np.vstack(probabilities), outer[0]["classes"]
    )


def outer_uar(probabilities: dict, key: str) -> float:
    """The UAR of one outer fold's ``key`` probabilities."""
    labels = probabilities["classes"][probabilities[key].argmax(axis=1)]
    return summary_scores(probabilities["emotions"], labels)["uar"]


def calibration_errors(outer: list[dict]) -> dict:
    """The calibration errors of the pooled outer probabilities: a speaker's recordings together, one clip, and one
    clip with each count of enrollment recordings; without calibration, with one temperature (fitted with
    speakers' recordings together) and with the temperature of the normalisation mode."""
    ece = {
        "calibrated": pooled_ece(outer, "probabilities", "together"),
        "uncalibrated": pooled_ece(outer, "probabilities", None),
        "calibrated_one_clip": pooled_ece(outer, "probabilities_one_clip", "alone"),
        "one_temperature_one_clip": pooled_ece(outer, "probabilities_one_clip", "together"),
        "uncalibrated_one_clip": pooled_ece(outer, "probabilities_one_clip", None),
    }
    for k in ENROLLED:
        ece[f"calibrated_enrolled_{k}"] = pooled_ece(outer, f"probabilities_enrolled_{k}", "alone")
        ece[f"one_temperature_enrolled_{k}"] = pooled_ece(outer, f"probabilities_enrolled_{k}", "together")
    return ece


def selection(columns: list[str], X, y, groups, jobs: int, choices: dict | None = None) -> dict:
    """The procedure's per-fold choices and scores, their summary, the calibration error and the defaults; with
    ``choices`` (a result of this function), steps 1 and 2 are read from it instead of run."""
    sets, mlps = select(columns, X, y, groups, jobs) if choices is None else recorded_steps(choices)
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
                    "uar": outer_uar(probabilities, "probabilities"),
                    "uar_one_clip": outer_uar(probabilities, "probabilities_one_clip"),
                    **{f"uar_enrolled_{k}": outer_uar(probabilities, f"probabilities_enrolled_{k}") for k in ENROLLED},
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
    summary["mlp"].update({f"uar_enrolled_{k}": mean_and_std("mlp", f"uar_enrolled_{k}") for k in ENROLLED})
    defaults = {
        "feature_set": sets["on_every_speaker"]["chosen"],
        "mlp": mlps["on_every_speaker"]["chosen"],
        "inner": {"feature_sets": sets["on_every_speaker"]["inner"], "mlps": mlps["on_every_speaker"]["inner"]},
    }
    return {"folds": folds, "summary": summary, "ece": calibration_errors(outer), "defaults": defaults}


def recorded_steps(choices: dict) -> tuple[dict, dict]:
    """Steps 1 and 2 as :func:`select` returns them, read from a selection's result: each fold's choices and inner
    scores, the linear baseline's per fold, and the choice on every speaker."""
    folds = choices["folds"]
    sets = {
        "folds": [
            {"speaker": f["speaker"], "chosen": f["feature_set"], "inner": f["inner"]["feature_sets"]} for f in folds
        ],
        "candidates": {
            f["feature_set"]: {
                "uar_per_fold": [g["logreg"]["uar"] for g in folds],
                "uar_one_clip_per_fold": [g["logreg"]["uar_one_clip"] for g in folds],
            }
            for f in folds
        },
        "on_every_speaker": {
            "chosen": choices["defaults"]["feature_set"],
            "inner": choices["defaults"]["inner"]["feature_sets"],
        },
    }
    mlps = {
        "folds": [{"chosen": f["mlp_setting"], "inner": f["inner"]["mlps"]} for f in folds],
        "on_every_speaker": {"chosen": choices["defaults"]["mlp"], "inner": choices["defaults"]["inner"]["mlps"]},
    }
    return sets, mlps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("selection.json"))
    parser.add_argument("--choices", type=Path, help="a selection.json whose steps 1 and 2 to reuse (step 3 only)")
    args = parser.parse_args()
    choices = json.loads(args.choices.read_text()) if args.choices else None
    table = pd.read_parquet(args.features)
    columns = feature_columns(table)
    X, y, groups = table[columns].to_numpy(), table["emotion"].to_numpy(), table["speaker"].astype(str).to_numpy()
    started = time.monotonic()
    result = selection(columns, X, y, groups, args.jobs, choices)
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
        "nested, one clip with k enrollment recordings: "
        + ", ".join(f"k={k} {summary['mlp'][f'uar_enrolled_{k}'][0]:.3f}" for k in ENROLLED)
    )
    print(
        "expected calibration error of the pooled outer probabilities (10 bins): "
        + ", ".join(f"{key} {value:.3f}" for key, value in ece.items())
    )
    print(f"on every speaker, the procedure chooses: {defaults['feature_set']}, {defaults['mlp']}")
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"{result['seconds']:.0f} s")
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
