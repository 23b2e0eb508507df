"""A fitted model's probabilities in plain numpy: standardisation (one scaler, or a weighted scaler per feature
block), multi-layer perceptrons (one, or a soft-voting ensemble) and a temperature per normalisation mode.

Each step does what scikit-learn's ``transform`` and ``predict_proba`` do, operation for operation in the same
dtypes, so the probabilities are scikit-learn's (``tests/test_bundle.py`` holds them to it on real bundles) without
importing scikit-learn: ``ser predict`` and ``ser timeline`` get ready without it.
:func:`ser.inference.fitted.forward_model` reads a :class:`Forward` from a bundle's skops file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOATS = (np.float64, np.float32, np.float16)  # the dtypes scikit-learn's scalers keep (others become float64)


def temper(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``probabilities`` raised to ``1 / temperature`` and renormalised: softer above 1, sharper below."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    tempered = np.exp(logits)
    return tempered / tempered.sum(axis=1, keepdims=True)


def _relu(x: np.ndarray) -> None:
    np.maximum(x, 0, out=x)


def _tanh(x: np.ndarray) -> None:
    np.tanh(x, out=x)


def _logistic(x: np.ndarray) -> None:
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    np.reciprocal(x, out=x)


def _softmax(x: np.ndarray) -> None:
    np.exp(x - x.max(axis=1)[:, np.newaxis], out=x)
    x /= x.sum(axis=1)[:, np.newaxis]


ACTIVATIONS = {"identity": lambda x: None, "relu": _relu, "tanh": _tanh, "logistic": _logistic, "softmax": _softmax}


@dataclass(frozen=True)
class Scaler:
    """A fitted ``StandardScaler``: ``mean`` subtracted and ``scale`` divided, each None where it is switched off."""

    mean: np.ndarray | None
    scale: np.ndarray | None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=X.dtype if X.dtype in FLOATS else np.float64)
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale
        return X


@dataclass(frozen=True)
class Blocks:
    """A fitted ``ColumnTransformer`` of scalers: each block's columns scaled and weighted, the blocks side by side."""

    parts: tuple[tuple[np.ndarray, Scaler, float | None], ...]  # (column indices, scaler, weight or None)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        scaled = [scaler(X[:, columns]) for columns, scaler, _ in self.parts]
        return np.hstack([s if weight is None else s * weight for s, (_, _, weight) in zip(scaled, self.parts)])


@dataclass(frozen=True)
class Network:
    """A fitted ``MLPClassifier``: its layers' weights and biases, hidden and output activations."""

    coefs: tuple[np.ndarray, ...]
    intercepts: tuple[np.ndarray, ...]
    activation: str
    out_activation: str

    def __call__(self, X: np.ndarray) -> np.ndarray:
        x = X
        for layer, (weight, bias) in enumerate(zip(self.coefs, self.intercepts)):
            x = x @ weight
            x += bias
            if layer != len(self.coefs) - 1:
                ACTIVATIONS[self.activation](x)
        ACTIVATIONS[self.out_activation](x)
        if x.shape[1] == 1:  # two classes: the probability of the second
            x = x.ravel()
            return np.vstack([1 - x, x]).T
        return x


@dataclass(frozen=True)
class Forward:
    """A fitted model as arrays: ``scale`` (a :class:`Scaler`, :class:`Blocks` or None), the ``networks`` whose
    probabilities are averaged, and ``temperatures`` per normalisation mode (None: uncalibrated).

    ``classes_``, ``n_features_in_`` and :meth:`predict_proba` are those of the scikit-learn pipeline it was read
    from."""

    classes_: np.ndarray
    n_features_in_: int
    scale: Scaler | Blocks | None
    networks: tuple[Network, ...]
    temperatures: dict[str, float] | None

    def predict_proba(self, X: np.ndarray, mode: str = "together") -> np.ndarray:
        """The probability of each class for rows ``X`` normalised as ``mode`` says (``together`` or ``alone``), at
        that mode's temperature when the model is calibrated."""
        if self.temperatures is not None and mode not in self.temperatures:
            raise ValueError(f"unknown calibration mode {mode!r}; allowed: {', '.join(self.temperatures)}")
        X = self.scale(X) if self.scale is not None else X
        if len(self.networks) == 1:
            probabilities = self.networks[0](X)
        else:  # a soft-voting ensemble: the members' probabilities averaged
            probabilities = np.average(np.asarray([network(X) for network in self.networks]), axis=0)
        return probabilities if self.temperatures is None else temper(probabilities, self.temperatures[mode])
