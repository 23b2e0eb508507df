"""The metrics files keep single values; the per-class, per-speaker and per-fold tables read back as written."""

import json

import numpy as np
from sklearn.linear_model import LogisticRegression

from ser.config import EvaluateParams
from ser.modeling.crossval import cross_validate_model
from ser.modeling.metrics import evaluate_predictions, per_speaker_scores
from ser.reports.breakdowns import (
    CLASS_SCORES,
    CROSSVAL_FOLDS,
    CROSSVAL_SPEAKER_SCORES,
    SPEAKER_SCORES,
    read_scores,
    write_crossval,
    write_evaluation,
)
from tests.test_metrics import CLASSES, scored_sample


def single_values(path) -> dict:
    metrics = json.loads(path.read_text())
    assert all(not isinstance(value, (dict, list)) for value in metrics.values()), metrics
    return metrics


def test_evaluation_tables_read_back_as_written_a_class_without_test_files_included(tmp_path):
    y, probabilities = scored_sample()
    y_pred = np.array(CLASSES)[probabilities.argmax(axis=1)]
    classes = ["angry", *CLASSES]  # no test file is angry: its ROC AUC is undefined (None, an empty cell)
    padded = np.hstack([np.zeros((len(y), 1)), probabilities])
    metrics = evaluate_predictions(y, padded, classes, one_clip=padded)
    speakers = np.repeat(["01", "02", "10"], 20)
    write_evaluation(metrics, per_speaker_scores(y, y_pred, speakers), tmp_path / "evaluate.json", tmp_path)
    written = single_values(tmp_path / "evaluate.json")
    assert written == {key: value for key, value in metrics.items() if key != "per_class"}
    assert read_scores(tmp_path / CLASS_SCORES, "emotion") == metrics["per_class"]
    assert metrics["per_class"]["angry"]["roc_auc"] is None
    assert read_scores(tmp_path / SPEAKER_SCORES, "speaker") == per_speaker_scores(y, y_pred, speakers)


def test_crossval_tables_hold_each_fold_and_speaker(tmp_path):
    rng = np.random.default_rng(1)
    y = np.tile(CLASSES, 20)
    X = rng.normal(size=(60, 4)) + np.array([CLASSES.index(c) for c in y])[:, None]
    groups = np.repeat(["01", "02", "03", "04", "05", "06"], 10)
    result = cross_validate_model(LogisticRegression(), X, y, groups, EvaluateParams(cv_folds=3), seed=5, n_jobs=1)
    write_crossval(result, tmp_path / "crossval.json", tmp_path)
    written = single_values(tmp_path / "crossval.json")
    assert written["folds"] == 3 and written["uar_mean"] == result["uar_mean"] and "uar_per_fold" not in written
    folds = read_scores(tmp_path / CROSSVAL_FOLDS, "fold")
    assert list(folds) == ["1", "2", "3"]
    assert [fold["test_speakers"].split() for fold in folds.values()] == result["test_speakers_per_fold"]
    for score in ("accuracy", "uar", "f1_macro", "uar_one_clip"):
        assert [fold[score] for fold in folds.values()] == result[f"{score}_per_fold"]
    assert read_scores(tmp_path / CROSSVAL_SPEAKER_SCORES, "speaker") == result["per_speaker_out_of_fold"]
