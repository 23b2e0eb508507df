"""Calibration (``train.calibrate``): a classifier wrapped in :class:`TemperatureScaled`, whose temperature is
fitted to the probabilities of models trained on the other speakers (folds grouped by speaker, so a speaker's
recordings are never on both sides); the labels, the argmax of the probabilities, do not change.

Kept apart from :mod:`ser.modeling.model` because a saved bundle holds a :class:`TemperatureScaled`: loading it
for prediction imports this module, not the training code.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GroupKFold

from ser.errors import SerError

CALIBRATION_FOLDS = 3  # folds of the training speakers whose held-out probabilities fit the temperature


def temper(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``probabilities`` raised to ``1 / temperature`` and renormalised: softer above 1, sharper below."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    tempered = np.exp(logits)
    return tempered / tempered.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``probabilities`` for the class indices ``labels``."""
    rows = np.arange(len(labels))

    def log_loss(log_temperature: float) -> float:
        return -np.log(temper(probabilities, np.exp(log_temperature))[rows, labels]).mean()

    return float(np.exp(minimize_scalar(log_loss, bounds=(-3.0, 3.0), method="bounded").x))


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """``classifier`` with calibrated probabilities: ``fit(X, y, groups)`` first fits copies on speaker-grouped
    folds and finds the temperature that best fits their probabilities on the held-out speakers, then fits
    ``classifier`` on every row. Labels are the classifier's own (a temperature keeps the argmax)."""

    def __init__(self, classifier, folds: int = CALIBRATION_FOLDS):
        self.classifier = classifier
        self.folds = folds

    def fits(self, groups) -> int:
        """How many times :meth:`fit` fits the classifier for rows of these speakers: a fold each, then all rows."""
        return min(self.folds, len(set(groups))) + 1

    def fit(self, X, y, groups, on_fit=None):
        """Fit on rows ``X`` of emotions ``y`` and speakers ``groups``, calling ``on_fit()`` (if given) after each
        of the classifier's :meth:`fits`."""
        done = on_fit or (lambda: None)
        speakers = len(set(groups))
        if speakers < 2:  # the temperature is fitted on speakers held out of training: it takes two
            raise SerError(
                f"train.calibrate needs at least 2 training speakers, and the model is trained on "
                f"{speakers}; give a corpus of more speakers (or a smaller split.test_size), or set "
                "train.calibrate=false"
            )
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        held_out = np.zeros((len(y), len(self.classes_)))
        for train, test in GroupKFold(n_splits=min(self.folds, len(set(groups)))).split(X, y, groups):
            fitted = clone(self.classifier).fit(X[train], y[train])
            held_out[np.ix_(test, np.searchsorted(self.classes_, fitted.classes_))] = fitted.predict_proba(X[test])
            done()
        self.temperature_ = fit_temperature(held_out, np.searchsorted(self.classes_, y))
        self.classifier_ = clone(self.classifier).fit(X, y)
        done()
        return self

    @property
    def n_features_in_(self) -> int:
        """How many features the fitted classifier takes."""
        return self.classifier_.n_features_in_

    def predict_proba(self, X) -> np.ndarray:
        return temper(self.classifier_.predict_proba(X), self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
