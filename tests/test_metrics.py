import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

from ser.config import EvaluateParams, ParamError
from ser.modeling.crossval import cross_validate_model, fold_splitter
from ser.modeling.metrics import curves, evaluate_predictions, expected_calibration_error, summary_scores

CLASSES = ["calm", "happy", "sad"]


def scored_sample(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(CLASSES * (n // 3))
    probabilities = rng.dirichlet(np.ones(3), size=n)
    probabilities[np.arange(n), [CLASSES.index(c) for c in y]] += rng.uniform(0, 0.8, n)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return y, probabilities


def test_metrics_use_labels_and_probabilities():
    y, probabilities = scored_sample()
    y_pred = np.array(CLASSES)[probabilities.argmax(axis=1)]
    one_clip = scored_sample(seed=1)[1]
    metrics = evaluate_predictions(y, probabilities, CLASSES, one_clip=one_clip)
    assert metrics["accuracy"] == pytest.approx(np.mean(y == y_pred))
    assert metrics["uar_one_clip"] == summary_scores(y, np.array(CLASSES)[one_clip.argmax(axis=1)])["uar"]
    assert metrics["ece_one_clip"] == expected_calibration_error(y, one_clip, CLASSES) != metrics["ece"]
    assert metrics["test_files"] == 60
    recalls = [metrics["per_class"][c]["recall"] for c in CLASSES]
    assert metrics["uar"] == pytest.approx(np.mean(recalls))
    assert all(metrics["per_class"][c]["support"] == 20 for c in CLASSES)
    assert 0.5 < metrics["roc_auc_macro"] <= 1


def test_curves_come_from_probabilities_not_hard_labels():
    y, probabilities = scored_sample()
    roc, pr = curves(y, probabilities, CLASSES)
    assert set(roc["emotion"]) == set(CLASSES) == set(pr["emotion"])
    # Hard labels would give at most three ROC points per class.
    assert (roc.groupby("emotion").size() > 5).all()
    assert roc["fpr"].between(0, 1).all() and pr["precision"].between(0, 1).all()


def test_speaker_folds_are_grouped_and_leave_one_out_when_folds_equal_speakers():
    groups = np.repeat([f"{i:02d}" for i in range(1, 7)], 6)
    assert isinstance(fold_splitter(EvaluateParams(cv_folds=6), groups, seed=5), LeaveOneGroupOut)
    assert isinstance(fold_splitter(EvaluateParams(cv_folds=3), groups, seed=5), StratifiedGroupKFold)
    with pytest.raises(ParamError, match="evaluate.cv_folds: got 7 but the data has 6 speakers"):
        fold_splitter(EvaluateParams(cv_folds=7), groups, seed=5)


def test_cross_validation_reports_every_fold_its_speakers_and_each_speaker_out_of_fold():
    rng = np.random.default_rng(1)
    y = np.tile(CLASSES, 20)
    X = rng.normal(size=(60, 4)) + np.array([CLASSES.index(c) for c in y])[:, None]
    groups = np.repeat([f"{i:02d}" for i in range(1, 5)], 15)
    result = cross_validate_model(LogisticRegression(), X, y, groups, EvaluateParams(cv_folds=4), seed=5, n_jobs=1)
    assert result["folds"] == 4 and len(result["uar_per_fold"]) == 4
    assert result["uar_mean"] == pytest.approx(np.mean(result["uar_per_fold"]))
    assert result["uar_mean"] > 0.6
    assert sorted(s for fold in result["test_speakers_per_fold"] for s in fold) == ["01", "02", "03", "04"]
    assert all(len(fold) == 1 for fold in result["test_speakers_per_fold"])
    # Leave-one-speaker-out: each fold's UAR is its one speaker's UAR.
    by_fold = {fold[0]: uar for fold, uar in zip(result["test_speakers_per_fold"], result["uar_per_fold"])}
    assert {s: score["uar"] for s, score in result["per_speaker_out_of_fold"].items()} == pytest.approx(by_fold)
    assert sum(score["files"] for score in result["per_speaker_out_of_fold"].values()) == 60
