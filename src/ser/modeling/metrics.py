"""Metrics and curves, all from predicted labels and predicted probabilities: overall, per class and per speaker.

ROC and precision-recall curves are one-vs-rest per class and use the model's
probabilities: hard labels would collapse each curve to one point.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)


def summary_scores(y_true, y_pred) -> dict:
    """Accuracy, balanced accuracy (UAR) and macro F1.

    Parameters
    ----------
    y_true, y_pred : array_like
        Shape ``(n_files,)``, the actual and the predicted emotions.

    Returns
    -------
    dict
        ``{"accuracy": float, "uar": float, "f1_macro": float}``. UAR, the unweighted mean of the per-class
        recalls, does not reward a model for favouring the commonest emotion.
    """
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "uar": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def held_out_scores(y_true, together, alone) -> dict:
    """Scores of held-out files predicted both ways :func:`ser.modeling.normalize.normalize_held_out` normalises them.

    Parameters
    ----------
    y_true : array_like
        Shape ``(n_files,)``, the actual emotions.
    together : array_like
        Shape ``(n_files,)``, labels predicted with each speaker's recordings normalised together.
    alone : array_like
        Shape ``(n_files,)``, labels predicted with each recording normalised alone, as ``ser predict`` takes one file.

    Returns
    -------
    dict
        :func:`summary_scores` of ``together``, and ``uar_one_clip``: the UAR of ``alone``.
    """
    return {**summary_scores(y_true, together), "uar_one_clip": summary_scores(y_true, alone)["uar"]}


def predicted_labels(probabilities: np.ndarray, classes) -> np.ndarray:
    """The class of each row's highest probability, as ``predict`` gives it.

    Parameters
    ----------
    probabilities : numpy.ndarray
        Shape ``(n_files, n_classes)``, columns in the order of ``classes``.
    classes : sequence of str
        The model's classes (``classes_``).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_files,)``, one class per row.
    """
    return np.asarray(classes)[np.argmax(probabilities, axis=1)]


def per_speaker_scores(actual, predicted, speakers) -> dict[str, dict]:
    """UAR, accuracy and number of files of each speaker, by speaker id.

    A speaker's UAR averages the recall of the emotions that speaker has.

    Parameters
    ----------
    actual, predicted : array_like
        Shape ``(n_files,)``, the actual and the predicted emotions.
    speakers : array_like
        Shape ``(n_files,)``, each file's speaker id.

    Returns
    -------
    dict of str to dict
        ``{speaker: {"uar": float, "accuracy": float, "files": int}}``, speakers in sorted order.
    """
    actual, predicted, speakers = np.asarray(actual), np.asarray(predicted), np.asarray(speakers).astype(str)
    scores = {}
    with warnings.catch_warnings():  # a speaker's files need not cover every emotion, nor two of them
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", message="A single label was found")
        for speaker in sorted(set(speakers)):
            mine = speakers == speaker
            scores[str(speaker)] = {
                "uar": float(balanced_accuracy_score(actual[mine], predicted[mine])),
                "accuracy": float(accuracy_score(actual[mine], predicted[mine])),
                "files": int(mine.sum()),
            }
    return scores


def expected_calibration_error(y_true, probabilities: np.ndarray, classes, bins: int = 10) -> float:
    """How far the top probability is from the accuracy it promises (expected calibration error).

    Over ``bins`` equal-width bins of the top probability, the mean ``|accuracy - mean top probability|``
    weighted by each bin's share of the files.

    Parameters
    ----------
    y_true : array_like
        Shape ``(n_files,)``, the actual emotions.
    probabilities : numpy.ndarray
        Shape ``(n_files, n_classes)``, each row summing to 1, columns in the order of ``classes``.
    classes : sequence of str
        The model's classes (``classes_``).
    bins : int
        Bins over (0, 1]: ``(0, 1/bins]`` is the first.

    Returns
    -------
    float
        In [0, 1]; 0 when every bin's accuracy equals its mean top probability.
    """
    top = probabilities.max(axis=1)
    correct = predicted_labels(probabilities, classes) == np.asarray(y_true)
    which = np.clip(np.ceil(top * bins).astype(int) - 1, 0, bins - 1)  # (0, 0.1] is bin 0, ..., (0.9, 1] bin 9
    return float(
        sum(
            abs(correct[which == b].mean() - top[which == b].mean()) * np.mean(which == b)
            for b in range(bins)
            if (which == b).any()
        )
    )


def evaluate_predictions(y_true, probabilities: np.ndarray, classes, *, one_clip: np.ndarray) -> dict:
    """Every test-set metric as a JSON-ready dict.

    The test rows are normalised two ways (:func:`ser.modeling.normalize.normalize_held_out`) and
    predicted once each way; the labels are the classes at each row's top probability.

    Parameters
    ----------
    y_true : array_like
        Shape ``(n_files,)``, the actual emotions.
    probabilities : numpy.ndarray
        Shape ``(n_files, n_classes)``, each speaker's recordings normalised together; each row sums to 1,
        columns in the order of ``classes``.
    classes : sequence of str
        The model's classes (``classes_``).
    one_clip : numpy.ndarray
        Shape ``(n_files, n_classes)``, the same files each normalised alone.

    Returns
    -------
    dict
        :func:`summary_scores`' keys, ``uar_one_clip``, ``ece``, ``ece_one_clip``, ``log_loss``,
        ``roc_auc_macro``, ``average_precision_macro``, ``test_files``, and ``per_class``: ``{class:
        {"precision", "recall", "f1", "support", "roc_auc", "average_precision"}}``. A class's ROC AUC and
        average precision are None when the test set lacks either its files or the others, and the macro
        averages skip them.
    """
    y_true = np.asarray(y_true)
    classes = list(classes)
    y_pred = predicted_labels(probabilities, classes)
    scores = held_out_scores(y_true, y_pred, predicted_labels(one_clip, classes))
    one_clip_scores = {
        "uar_one_clip": scores.pop("uar_one_clip"),
        "ece_one_clip": expected_calibration_error(y_true, one_clip, classes),
    }
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    per_class = {}
    for i, label in enumerate(classes):
        positives = y_true == label
        has_both = 0 < positives.sum() < len(y_true)
        per_class[label] = {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "roc_auc": float(roc_auc_score(positives, probabilities[:, i])) if has_both else None,
            "average_precision": float(average_precision_score(positives, probabilities[:, i])) if has_both else None,
        }
    aucs = [c["roc_auc"] for c in per_class.values() if c["roc_auc"] is not None]
    aps = [c["average_precision"] for c in per_class.values() if c["average_precision"] is not None]
    return {
        **scores,
        "ece": expected_calibration_error(y_true, probabilities, classes),
        "log_loss": float(log_loss(y_true, probabilities, labels=classes)),
        "roc_auc_macro": float(np.mean(aucs)) if aucs else None,
        "average_precision_macro": float(np.mean(aps)) if aps else None,
        "test_files": int(len(y_true)),
        "per_class": per_class,
        **one_clip_scores,
    }


def curves(y_true, probabilities: np.ndarray, classes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-vs-rest ROC and precision-recall points of each class, from the probabilities.

    Parameters
    ----------
    y_true : array_like
        Shape ``(n_files,)``, the actual emotions.
    probabilities : numpy.ndarray
        Shape ``(n_files, n_classes)``, each row summing to 1, columns in the order of ``classes``.
    classes : sequence of str
        The model's classes (``classes_``).

    Returns
    -------
    roc : pandas.DataFrame
        Columns ``emotion, fpr, tpr``, each class's points in curve order.
    precision_recall : pandas.DataFrame
        Columns ``emotion, recall, precision``, likewise. A class with no files in ``y_true``, or only its
        own, has no curve.
    """
    y_true = np.asarray(y_true)
    roc_rows, pr_rows = [], []
    for i, label in enumerate(classes):
        positives = y_true == label
        if not 0 < positives.sum() < len(y_true):
            continue
        fpr, tpr, _ = roc_curve(positives, probabilities[:, i])
        roc_rows.append(pd.DataFrame({"emotion": label, "fpr": fpr, "tpr": tpr}))
        precision, recall, _ = precision_recall_curve(positives, probabilities[:, i])
        pr_rows.append(pd.DataFrame({"emotion": label, "recall": recall, "precision": precision}))
    return pd.concat(roc_rows, ignore_index=True), pd.concat(pr_rows, ignore_index=True)
