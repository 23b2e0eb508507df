"""Calibration (``train.calibrate``): a classifier wrapped in :class:`TemperatureScaled`, with a temperature for
each way a file is normalised (:data:`~ser.config.CALIBRATION_MODES`): ``together``, a speaker's recordings
standardised by their own statistics, and ``alone``, a lone clip or a speaker with few recordings, whose statistics
are shrunk toward the training speakers' average. The two give probabilities of different sharpness, so each
temperature is fitted on held-out speakers normalised that same way (:func:`ser.modeling.model.fit_model`); the
labels, the argmax of the probabilities, do not change.

Kept apart from :mod:`ser.modeling.model` because a saved bundle holds a :class:`TemperatureScaled`: loading it
with skops imports this module, not the training code (predicting reads the default models as arrays instead,
:mod:`ser.modeling.forward`, whose :func:`temper` this module applies).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline

from ser.config import CALIBRATION_MODES
from ser.modeling.forward import temper

CALIBRATION_FOLDS = 3  # folds of the training speakers whose held-out probabilities fit the temperatures


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``probabilities`` for the class indices ``labels``."""
    rows = np.arange(len(labels))

    def log_loss(log_temperature: float) -> float:
        return -np.log(temper(probabilities, np.exp(log_temperature))[rows, labels]).mean()

    return float(np.exp(minimize_scalar(log_loss, bounds=(-3.0, 3.0), method="bounded").x))


def check_temperatures(temperatures) -> dict[str, float]:
    """``temperatures`` as a dict of each mode of :data:`~ser.config.CALIBRATION_MODES` to a positive finite number.

    Raises
    ------
    ValueError
        A mode is missing or unknown, or a temperature is not a positive finite number.
    """
    if not isinstance(temperatures, dict) or sorted(temperatures) != sorted(CALIBRATION_MODES):
        raise ValueError(f"got temperatures {temperatures!r}; allowed: one for each of {', '.join(CALIBRATION_MODES)}")
    for mode, value in temperatures.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"temperature {mode}: got {value!r}; allowed: a positive finite number")
    return {mode: float(temperatures[mode]) for mode in CALIBRATION_MODES}


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """``classifier`` with calibrated probabilities: ``fit(X, y, temperatures)`` fits ``classifier`` on every row
    and keeps a temperature per normalisation mode, fitted beforehand on held-out speakers (their rows need the
    unnormalised features, which a pipeline step never sees: :func:`ser.modeling.model.fit_model` does it).
    Labels are the classifier's own (a temperature keeps the argmax). ``per_mode``: whether the temperatures were
    fitted each in its own mode, or one serves every mode (``train.calibrate_per_mode``)."""

    def __init__(self, classifier, per_mode: bool = False):
        self.classifier = classifier
        self.per_mode = per_mode

    def fit(self, X, y, temperatures: dict[str, float]):
        self.set_temperatures(temperatures)
        self.classifier_ = clone(self.classifier).fit(X, y)
        self.classes_ = self.classifier_.classes_
        return self

    def set_temperatures(self, temperatures: dict[str, float]) -> TemperatureScaled:
        """Keep ``temperatures``, one per mode: they change nothing the classifier fitted, so the fit may be made
        before they are known (:func:`ser.modeling.model.fit_model`)."""
        self.temperatures_ = check_temperatures(temperatures)
        return self

    @property
    def n_features_in_(self) -> int:
        """How many features the fitted classifier takes."""
        return self.classifier_.n_features_in_

    def predict_proba(self, X, mode: str = "together") -> np.ndarray:
        """The classifier's probabilities at the temperature of ``mode`` (how the rows were normalised)."""
        return temper(self.classifier_.predict_proba(X), self.temperatures_[mode])

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.classifier_.predict_proba(X).argmax(axis=1)]


def temperatures_of(model) -> dict[str, float] | None:
    """The temperature per mode of a fitted model (a pipeline ending in :class:`TemperatureScaled`, or one), or
    None for a model without calibration; empty for one saved without them (by an older ser: it must be retrained)."""
    last = model[-1] if isinstance(model, Pipeline) else model
    return dict(getattr(last, "temperatures_", {})) if isinstance(last, TemperatureScaled) else None


def calibrated_probabilities(model, X, mode: str) -> np.ndarray:
    """``model``'s probabilities for rows ``X`` normalised as ``mode`` says (``together`` or ``alone``): at that
    mode's temperature when the model is calibrated, else its own."""
    if mode not in CALIBRATION_MODES:
        raise ValueError(f"unknown calibration mode {mode!r}; allowed: {', '.join(CALIBRATION_MODES)}")
    return model.predict_proba(X, mode=mode) if temperatures_of(model) is not None else model.predict_proba(X)


class Calibrated:
    """A fitted scikit-learn model (one :mod:`ser.modeling.forward` does not compute) with the interface of
    :class:`ser.modeling.forward.Forward`: ``classes_``, ``n_features_in_``, ``temperatures`` and
    ``predict_proba(X, mode)``."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_
        self.temperatures = temperatures_of(model)

    def predict_proba(self, X, mode: str = "together") -> np.ndarray:
        return calibrated_probabilities(self.model, X, mode)
