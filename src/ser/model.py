"""The classifier: an optional standardiser followed by an MLP (default), an RBF SVM or logistic regression.

Per-speaker normalisation (``train.normalize``) is not a pipeline step: it needs to
know which rows share a speaker, so callers apply :func:`ser.normalize.normalize`
to the features before ``fit`` and ``predict`` (train, evaluate and crossvalidate do;
the bundle's ``model.json`` records the method under ``normalize``).
"""
from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ser.config import TrainParams


def build_classifier(params: TrainParams):
    """The unfitted classifier that ``train.model`` names, with its own params."""
    if params.model == "svm":
        # Probabilities (evaluate's ROC and precision-recall curves need them) by Platt scaling on 5 internal
        # folds; ensemble=False keeps one SVM fitted on all training rows, as SVC(probability=True) did.
        return CalibratedClassifierCV(SVC(kernel="rbf", C=params.svm.C, gamma=params.svm.gamma),
                                      method="sigmoid", cv=5, ensemble=False)
    if params.model == "logreg":
        return LogisticRegression(C=params.logreg.C, max_iter=params.logreg.max_iter, random_state=params.seed)
    return MLPClassifier(
        alpha=params.alpha,
        batch_size=params.batch_size,
        hidden_layer_sizes=params.hidden_layer_sizes,
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        solver=params.solver,
        random_state=params.seed,
        early_stopping=params.early_stopping,
    )


def build_model(params: TrainParams) -> Pipeline:
    """An unfitted pipeline; what is fitted and saved is exactly what predicts."""
    steps = [("scale", StandardScaler())] if params.scale else []
    steps.append((params.model, build_classifier(params)))
    return Pipeline(steps)


def loss_curve(model: Pipeline) -> list[float]:
    """Training loss per epoch (empty for models and solvers that do not record one)."""
    return [float(v) for v in getattr(model[-1], "loss_curve_", [])]
