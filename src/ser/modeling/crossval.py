"""K-fold cross-validation on the whole selected data, folds fitted in parallel.

With per-speaker normalisation, each fold normalises its training rows and its test
rows separately, each speaker with its own rows on that side only (for folds by
speaker this is each speaker's own statistics over all its files).
"""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from ser.modeling.metrics import per_speaker_scores
from ser.config import EvaluateParams, ParamError
from ser.modeling.metrics import summary_scores
from ser.modeling.normalize import normalize

SCORES = ("accuracy", "uar", "f1_macro")


def fold_splitter(params: EvaluateParams, groups, seed: int):
    """Grouped folds (no speaker in two folds) or stratified random folds."""
    if params.cv_by == "random":
        return StratifiedKFold(n_splits=params.cv_folds, shuffle=True, random_state=seed)
    n_speakers = len(set(groups))
    if params.cv_folds > n_speakers:
        raise ParamError("evaluate.cv_folds", f"got {params.cv_folds} but the data has {n_speakers} speakers; "
                         f"allowed with cv_by speaker: 2 to {n_speakers}")
    if params.cv_folds == n_speakers:
        return LeaveOneGroupOut()
    return StratifiedGroupKFold(n_splits=params.cv_folds, shuffle=True, random_state=seed)


def fit_predict(model, X, y, groups, train, test, normalization: str = "none") -> np.ndarray:
    """Fit a clone of ``model`` on rows ``train`` and predict rows ``test``, each side normalised on its own."""
    X_train = normalize(X[train], groups[train], normalization)
    X_test = normalize(X[test], groups[test], normalization)
    return clone(model).fit(X_train, y[train]).predict(X_test)


def cross_validate_model(model, X, y, groups, params: EvaluateParams, *, seed: int,
                         normalization: str = "none", n_jobs: int = -1) -> dict:
    """Per-fold and mean/std accuracy, UAR and macro F1, each fold's test speakers, and per-speaker
    scores of the out-of-fold predictions (each file is predicted by the one fold that held it out).

    The per-speaker key differs from the evaluate stage's ``per_speaker``, so `dvc metrics show`
    keeps the two apart without prefixing file names.
    """
    X, y, groups = np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(groups)
    grouping = groups if params.cv_by == "speaker" else None  # random folds take no groups (and warn if given)
    folds = list(fold_splitter(params, groups, seed).split(X, y, grouping))
    predictions = Parallel(n_jobs=n_jobs)(
        delayed(fit_predict)(model, X, y, groups, train, test, normalization) for train, test in folds)
    scores = [summary_scores(y[test], predicted) for (_, test), predicted in zip(folds, predictions)]
    result = {"folds": len(folds)}
    for name in SCORES:
        values = [fold[name] for fold in scores]
        result[f"{name}_mean"] = float(np.mean(values))
        result[f"{name}_std"] = float(np.std(values))
        result[f"{name}_per_fold"] = [float(v) for v in values]
    result["test_speakers_per_fold"] = [sorted(set(groups[test].astype(str))) for _, test in folds]
    out_of_fold = np.empty_like(y)
    for (_, test), predicted in zip(folds, predictions):
        out_of_fold[test] = predicted
    result["per_speaker_out_of_fold"] = per_speaker_scores(y, out_of_fold, groups)
    return result


def _held_out_uar(model, columns, normalization, X, y, groups, excluded, held_out: tuple) -> float:
    """UAR on the speakers ``held_out`` of ``model`` trained on every speaker but them and ``excluded``."""
    test_rows = np.isin(groups, held_out)
    train = np.flatnonzero((groups != excluded) & ~test_rows)
    test = np.flatnonzero(test_rows)
    predicted = fit_predict(model, X[:, columns], y, groups, train, test, normalization)
    return summary_scores(y[test], predicted)["uar"]


def nested_leave_one_speaker_out(candidates: dict, X, y, groups, *, inner_folds: int | None = None,
                                 n_jobs: int = -1) -> dict:
    """Honest leave-one-speaker-out: settings chosen for each held-out speaker without its data.

    ``candidates`` maps a name to ``(model, columns, normalization)``: an unfitted
    estimator, the column indices of ``X`` it uses (a feature set) and a
    ``train.normalize`` method. For each outer fold (one held-out speaker), every
    candidate is scored by inner cross-validation on the remaining speakers only (leave
    one speaker out, or ``inner_folds`` folds of speakers when the candidates are too slow
    for that); the best mean inner UAR (first listed on a tie) is refitted on all of them
    and scored on the held-out speaker. The held-out speaker's recordings take no part in
    the choice, so the outer scores are an honest estimate for the whole procedure
    (selection included). Also returned: every candidate's plain leave-one-speaker-out
    scores over all speakers, whose best mean is an optimistic figure (chosen on the
    very folds it reports).
    """
    X, y, groups = np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(groups)
    names = list(candidates)
    speakers = list(np.unique(groups))

    def inner_groups(outer) -> list[tuple]:
        rest = [s for s in speakers if s != outer]
        folds = len(rest) if inner_folds is None else min(inner_folds, len(rest))
        return [tuple(rest[i::folds]) for i in range(folds)]

    # Every fit needed, as (outer speaker or None, held-out speakers, candidate): None is the plain LOSO.
    tasks = [(None, (held_out,), name) for held_out in speakers for name in names]
    tasks += [(outer, inner, name) for outer in speakers for inner in inner_groups(outer) for name in names]

    results = Parallel(n_jobs=n_jobs)(delayed(_held_out_uar)(*candidates[name], X, y, groups, outer, held_out)
                                      for outer, held_out, name in tasks)
    scores = dict(zip(tasks, results))
    plain = {name: [scores[(None, (s,), name)] for s in speakers] for name in names}
    folds = []
    for outer in speakers:
        inner = {name: float(np.mean([scores[(outer, group, name)] for group in inner_groups(outer)])) for name in names}
        chosen = max(names, key=lambda name: (inner[name], -names.index(name)))
        folds.append({"speaker": str(outer), "chosen": chosen, "inner_uar": inner[chosen],
                      "uar": plain[chosen][speakers.index(outer)]})
    outer_scores = [fold["uar"] for fold in folds]
    return {
        "folds": folds,
        "uar_mean": float(np.mean(outer_scores)),
        "uar_std": float(np.std(outer_scores)),
        "candidates": {name: {"uar_mean": float(np.mean(v)), "uar_std": float(np.std(v)), "uar_per_fold": v}
                       for name, v in plain.items()},
    }
