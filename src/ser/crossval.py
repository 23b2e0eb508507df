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

from ser.config import EvaluateParams, ParamError
from ser.evaluation import summary_scores
from ser.normalize import normalize

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


def _fold_scores(model, X, y, groups, train, test, normalization) -> dict:
    return summary_scores(y[test], fit_predict(model, X, y, groups, train, test, normalization))


def cross_validate_model(model, X, y, groups, params: EvaluateParams, *, seed: int,
                         normalization: str = "none", n_jobs: int = -1) -> dict:
    """Per-fold and mean/std accuracy, UAR and macro F1."""
    X, y, groups = np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(groups)
    folds = list(fold_splitter(params, groups, seed).split(X, y, groups))
    scores = Parallel(n_jobs=n_jobs)(
        delayed(_fold_scores)(model, X, y, groups, train, test, normalization) for train, test in folds)
    result = {"folds": len(folds)}
    for name in SCORES:
        values = [fold[name] for fold in scores]
        result[f"{name}_mean"] = float(np.mean(values))
        result[f"{name}_std"] = float(np.std(values))
        result[f"{name}_per_fold"] = [float(v) for v in values]
    return result
