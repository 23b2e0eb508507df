"""K-fold cross-validation on the whole selected data, folds fitted in parallel (forked processes, one per core).

With per-speaker normalisation, each fold normalises its training rows and its test
rows separately, each speaker with its own rows on that side only (for folds by
speaker this is each speaker's own statistics over all its files).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from ser.config import EvaluateParams, ParamError
from ser.cores import usable_cores
from ser.forked import ForkedCalls
from ser.modeling.metrics import held_out_scores, per_speaker_scores
from ser.modeling.model import fit_held_out
from ser.progress import progress_bar

SCORES = ("accuracy", "uar", "f1_macro")


def fold_splitter(params: EvaluateParams, groups, seed: int):
    """Grouped folds (no speaker in two folds) or stratified random folds."""
    if params.cv_by == "random":
        return StratifiedKFold(n_splits=params.cv_folds, shuffle=True, random_state=seed)
    n_speakers = len(set(groups))
    if params.cv_folds > n_speakers:
        raise ParamError(
            "evaluate.cv_folds",
            f"got {params.cv_folds} but the data has {n_speakers} speakers; "
            f"allowed with cv_by speaker: 2 to {n_speakers}",
        )
    if params.cv_folds == n_speakers:
        return LeaveOneGroupOut()
    return StratifiedGroupKFold(n_splits=params.cv_folds, shuffle=True, random_state=seed)


def fit_predict(
    model, X, y, groups, train, test, normalization: str = "none", copies=None
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a clone of ``model`` on rows ``train`` (and the ``copies`` of their speakers) and predict rows ``test``,
    the test speakers' recordings together and each alone (:func:`~ser.modeling.model.fit_held_out`). Only labels
    are returned, so the model's calibration, which changes none, is not fitted."""
    fitted, (together, alone) = fit_held_out(model, X, y, groups, train, test, normalization, copies)
    return fitted.predict(together), fitted.predict(alone)


def cross_validate_model(
    model,
    X,
    y,
    groups,
    params: EvaluateParams,
    *,
    seed: int,
    normalization: str = "none",
    n_jobs: int = -1,
    progress: bool = False,
    copies=None,
) -> dict:
    """Per-fold and mean/std accuracy, UAR and macro F1, each fold's test speakers, and per-speaker
    scores of the out-of-fold predictions (each file is predicted by the one fold that held it out).
    ``progress``: a bar of the folds done on stderr, if it is a terminal. ``copies``: ``(features, y,
    pseudo-speakers, source rows)`` of perturbed copies of rows of ``X`` (:mod:`ser.features.augment`), each fold
    training on the copies of its training rows only. ``n_jobs``: the folds are fitted in this many forked processes
    at once (-1: one per core), each with one BLAS thread (:class:`~ser.forked.ForkedCalls`).

    The crossvalidate stage keeps the means and standard deviations as metrics and puts the rest in tables
    (:mod:`ser.reports.breakdowns`).
    """
    X, y, groups = np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(groups)
    grouping = groups if params.cv_by == "speaker" else None  # random folds take no groups (and warn if given)
    folds = list(fold_splitter(params, groups, seed).split(X, y, grouping))
    calls = [partial(fit_predict, model, X, y, groups, train, test, normalization, copies) for train, test in folds]
    processes = n_jobs if n_jobs > 0 else usable_cores()
    with threadpool_limits(1), ForkedCalls(calls, processes if processes > 1 else 0) as running:
        predictions = list(
            progress_bar(running.results(), desc="crossvalidate", unit="fold", total=len(folds), shown=progress)
        )
    scores = [held_out_scores(y[test], together, alone) for (_, test), (together, alone) in zip(folds, predictions)]
    result = {"folds": len(folds)}
    for name in (*SCORES, "uar_one_clip"):
        values = [fold[name] for fold in scores]
        result[f"{name}_mean"] = float(np.mean(values))
        result[f"{name}_std"] = float(np.std(values))
        result[f"{name}_per_fold"] = [float(v) for v in values]
    result["test_speakers_per_fold"] = [sorted(set(groups[test].astype(str))) for _, test in folds]
    out_of_fold = np.empty_like(y)
    for (_, test), (together, _) in zip(folds, predictions):
        out_of_fold[test] = together
    result["per_speaker_out_of_fold"] = per_speaker_scores(y, out_of_fold, groups)
    return result


def _held_out_scores(model, columns, normalization, X, y, groups, excluded, held_out: tuple) -> tuple[float, float]:
    """UAR and one-clip UAR on the speakers ``held_out`` of ``model`` trained on every speaker but them and
    ``excluded``."""
    test_rows = np.isin(groups, held_out)
    train = np.flatnonzero((groups != excluded) & ~test_rows)
    test = np.flatnonzero(test_rows)
    scores = held_out_scores(y[test], *fit_predict(model, X[:, columns], y, groups, train, test, normalization))
    return scores["uar"], scores["uar_one_clip"]


def nested_leave_one_speaker_out(
    candidates: dict | Callable[[object], dict], X, y, groups, *, inner_folds: int | None = None, n_jobs: int = -1
) -> dict:
    """Honest leave-one-speaker-out: settings chosen for each held-out speaker without its data.

    ``candidates`` maps a name to ``(model, columns, normalization)``: an unfitted
    estimator, the column indices of ``X`` it uses (a feature set) and a
    ``train.normalize`` method. It may instead be a function of the held-out speaker (``None``
    for the choice on every speaker) that returns such a map: candidates that build on an
    earlier choice made without that speaker (bench/select_defaults.py chooses the feature
    set, then the MLP on the feature set chosen for that fold).

    For each outer fold (one held-out speaker), every candidate is scored by inner
    cross-validation on the remaining speakers only (leave one speaker out, or ``inner_folds``
    folds of speakers when the candidates are too slow for that: the speakers in sorted order,
    fold ``i`` taking every ``inner_folds``-th from the ``i``-th) on the mean of its UAR with a
    speaker's recordings together and its one-clip UAR (each recording alone,
    :func:`~ser.modeling.metrics.held_out_scores`); the best (first listed on a tie) is refitted
    on all of them and scored on the held-out speaker. The held-out speaker's recordings take
    no part in the choice, so the outer scores are an honest estimate for the whole procedure
    (selection included).

    Returns ``folds`` (per held-out speaker: ``chosen``, its ``inner_score``, every
    candidate's score in ``inner``, and the outer ``uar`` and ``uar_one_clip``), their means
    and standard deviations, ``on_every_speaker`` (the same choice made on all speakers: what
    the procedure would ship) and, for a fixed map, ``candidates``: every candidate's plain
    leave-one-speaker-out scores over all speakers, whose best mean is an optimistic figure
    (chosen on the very folds it reports).
    """
    X, y, groups = np.asarray(X, dtype=np.float64), np.asarray(y), np.asarray(groups)
    speakers = list(np.unique(groups))
    fixed = not callable(candidates)
    offered = {outer: candidates if fixed else candidates(outer) for outer in (None, *speakers)}

    def inner_groups(outer) -> list[tuple]:
        rest = [s for s in speakers if s != outer]
        folds = len(rest) if inner_folds is None else min(inner_folds, len(rest))
        return [tuple(rest[i::folds]) for i in range(folds)]

    def outer_task(speaker, name) -> tuple:  # a fixed candidate's outer fit is its plain leave-one-speaker-out fold
        return (None if fixed else speaker, (speaker,), name)

    scores: dict[tuple, tuple[float, float]] = {}

    def run(tasks) -> None:
        """Score each task (outer speaker or None, held-out speakers, candidate name) not scored yet."""
        tasks = [task for task in dict.fromkeys(tasks) if task not in scores]
        results = Parallel(n_jobs=n_jobs)(
            delayed(_held_out_scores)(*offered[outer][name], X, y, groups, outer, held_out)
            for outer, held_out, name in tasks
        )
        scores.update(zip(tasks, results))

    def choose(outer) -> dict:
        inner = {
            name: float(np.mean([scores[(outer, group, name)] for group in inner_groups(outer)]))
            for name in offered[outer]
        }
        names = list(inner)
        chosen = max(names, key=lambda name: (inner[name], -names.index(name)))
        return {"chosen": chosen, "inner_score": inner[chosen], "inner": inner}

    tasks = [
        (outer, group, name) for outer in (None, *speakers) for group in inner_groups(outer) for name in offered[outer]
    ]
    if fixed:  # every candidate's plain leave-one-speaker-out folds, the outer fits among them
        tasks += [outer_task(speaker, name) for speaker in speakers for name in candidates]
    run(tasks)
    choices = {outer: choose(outer) for outer in (None, *speakers)}
    run([outer_task(speaker, choices[speaker]["chosen"]) for speaker in speakers])
    folds = []
    for speaker in speakers:
        uar, one_clip = scores[outer_task(speaker, choices[speaker]["chosen"])]
        folds.append({"speaker": str(speaker), **choices[speaker], "uar": uar, "uar_one_clip": one_clip})
    result = {
        "folds": folds,
        **{
            f"{key}_{stat}": float(function([fold[key] for fold in folds]))
            for key in ("uar", "uar_one_clip")
            for stat, function in (("mean", np.mean), ("std", np.std))
        },
        "on_every_speaker": choices[None],
    }
    if fixed:
        plain = {name: [scores[outer_task(s, name)] for s in speakers] for name in candidates}
        result["candidates"] = {
            name: {
                "uar_mean": float(np.mean([u for u, _ in v])),
                "uar_std": float(np.std([u for u, _ in v])),
                "uar_one_clip_mean": float(np.mean([c for _, c in v])),
                "uar_per_fold": [u for u, _ in v],
                "uar_one_clip_per_fold": [c for _, c in v],
            }
            for name, v in plain.items()
        }
    return result
