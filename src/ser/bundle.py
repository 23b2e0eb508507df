"""The model bundle: a skops file (never pickle) plus ``model.json`` describing it.

Loading accepts only the types listed in :data:`TRUSTED_TYPES`; a bundle holding
anything else is refused before any of its objects is built.
"""
from __future__ import annotations

import json
from pathlib import Path

import skops.io as sio

from ser.errors import SerError
from ser.files import atomic_dir

MODEL_FILE = "model.skops"
INFO_FILE = "model.json"
TRUSTED_TYPES = [
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # train.model: svm is an SVC inside CalibratedClassifierCV (Platt-scaled probabilities)
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


class BundleError(SerError, ValueError):
    """A model bundle is missing, damaged or holds untrusted content."""


def save_bundle(directory: str | Path, model, info: dict) -> None:
    """Write ``model`` and ``info`` into ``directory``, replacing it atomically."""
    with atomic_dir(directory) as tmp:
        sio.dump(model, tmp / MODEL_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")


def load_bundle(directory: str | Path):
    """Return ``(model, info)`` from a bundle folder, refusing untrusted types."""
    directory = Path(directory)
    model_path, info_path = directory / MODEL_FILE, directory / INFO_FILE
    for path in (model_path, info_path):
        if not path.is_file():
            raise BundleError(f"{path} not found; train a model first (dvc repro) or pass --model DIR")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as error:
        raise BundleError(f"{info_path} is not valid JSON ({error})") from None
    try:
        untrusted = [t for t in sio.get_untrusted_types(file=model_path) if t not in TRUSTED_TYPES]
        if untrusted:
            raise BundleError(f"{model_path} contains untrusted types {untrusted}; refusing to load it")
        model = sio.load(model_path, trusted=TRUSTED_TYPES)
    except BundleError:
        raise
    except Exception as error:  # skops raises many kinds on damaged files
        raise BundleError(f"{model_path} is not a readable skops model ({type(error).__name__}: {error})") from None
    return model, info
