"""The classifier: an optional standardiser followed by scikit-learn's MLPClassifier."""
from __future__ import annotations

from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ser.config import TrainParams


def build_model(params: TrainParams) -> Pipeline:
    """An unfitted pipeline; what is fitted and saved is exactly what predicts."""
    steps = [("scale", StandardScaler())] if params.scale else []
    steps.append(("mlp", MLPClassifier(
        alpha=params.alpha,
        batch_size=params.batch_size,
        hidden_layer_sizes=params.hidden_layer_sizes,
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        solver=params.solver,
        random_state=params.seed,
    )))
    return Pipeline(steps)


def loss_curve(model: Pipeline) -> list[float]:
    """Training loss per epoch (empty for solvers that do not record one)."""
    return [float(v) for v in getattr(model[-1], "loss_curve_", [])]
