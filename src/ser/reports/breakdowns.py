"""The headline metrics and their breakdowns: single numbers in metrics/*.json, tables in plots/*.csv.

``dvc metrics show`` and ``dvc exp show`` list every single value of a metrics file as a column, so the
metrics files hold only headline numbers (and the settings they were measured with). The scores per
class, per speaker and per fold go to one CSV each, which DVC tracks as plots (``dvc plots show``) and
the bundle stage reads back. This module is the one place that knows those files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ser.files import write_csv, write_json

CLASS_SCORES = "class_scores.csv"  # emotion, precision, recall, f1, support, roc_auc, ...
SPEAKER_SCORES = "speaker_scores.csv"  # speaker, uar, accuracy, files (test set)
CROSSVAL_FOLDS = "crossval_folds.csv"  # fold, accuracy, uar, f1_macro, uar_one_clip, test_speakers
CROSSVAL_SPEAKER_SCORES = "crossval_speaker_scores.csv"  # speaker, uar, accuracy, files (out-of-fold predictions)
NAMES = ("emotion", "speaker", "fold", "test_speakers")  # columns of names, read as text ("03" is a speaker, not 3)


def headline(metrics: dict) -> dict:
    """The single values of ``metrics`` (numbers, and the strings naming settings): not its dicts and lists."""
    return {key: value for key, value in metrics.items() if not isinstance(value, (dict, list, tuple))}


def write_scores(path: str | Path, scores: dict[str, dict], key: str) -> None:
    """``{name: {column: value}}`` as a CSV: names in column ``key``, then the columns, rows in ``scores``' order."""
    write_csv(path, pd.DataFrame([{key: name, **row} for name, row in scores.items()]))


def read_scores(path: str | Path, key: str) -> dict[str, dict]:
    """A CSV written by :func:`write_scores`, back as ``{name: {column: value}}`` (an empty cell is None)."""
    frame = pd.read_csv(path, dtype=dict.fromkeys({key, *NAMES}, str), keep_default_na=False, na_values=[""])
    frame = frame.astype(object)
    records = frame.where(frame.notna(), None).to_dict("records")
    return {record.pop(key): record for record in records}


def fold_scores(crossval: dict) -> dict[str, dict]:
    """Each cross-validation fold (numbered from 1): its scores and its held-out speakers (space-separated)."""
    per_fold = {key.removesuffix("_per_fold"): values for key, values in crossval.items() if key.endswith("_per_fold")}
    return {
        str(fold + 1): {
            name: " ".join(values[fold]) if name == "test_speakers" else values[fold]
            for name, values in per_fold.items()
        }
        for fold in range(crossval["folds"])
    }


def write_evaluation(metrics: dict, per_speaker: dict[str, dict], metrics_path: str | Path, plots: str | Path) -> None:
    """The evaluate stage's headline metrics (JSON), and its scores per class and per test speaker (CSV)."""
    write_scores(Path(plots) / CLASS_SCORES, metrics["per_class"], "emotion")
    write_scores(Path(plots) / SPEAKER_SCORES, per_speaker, "speaker")
    write_json(metrics_path, headline(metrics))


def write_crossval(crossval: dict, metrics_path: str | Path, plots: str | Path) -> None:
    """The crossvalidate stage's means and standard deviations (JSON), and its scores per fold and per speaker
    (CSV)."""
    write_scores(Path(plots) / CROSSVAL_FOLDS, fold_scores(crossval), "fold")
    write_scores(Path(plots) / CROSSVAL_SPEAKER_SCORES, crossval["per_speaker_out_of_fold"], "speaker")
    write_json(metrics_path, headline(crossval))
