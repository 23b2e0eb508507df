"""K-fold cross-validation on the whole selected data, folds fitted in parallel."""
from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold, cross_validate

from ser.config import EvaluateParams, ParamError

SCORERS = {"accuracy": "accuracy", "uar": "balanced_accuracy", "f1_macro": "f1_macro"}


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


def cross_validate_model(model, X, y, groups, params: EvaluateParams, *, seed: int, n_jobs: int = -1) -> dict:
    """Per-fold and mean/std accuracy, UAR and macro F1."""
    splitter = fold_splitter(params, groups, seed)
    scores = cross_validate(clone(model), X, y, groups=groups, cv=splitter, scoring=SCORERS, n_jobs=n_jobs)
    result = {"folds": int(len(scores["test_accuracy"]))}
    for name in SCORERS:
        values = scores[f"test_{name}"]
        result[f"{name}_mean"] = float(np.mean(values))
        result[f"{name}_std"] = float(np.std(values))
        result[f"{name}_per_fold"] = [float(v) for v in values]
    return result
