"""The model bundle: a skops file (never pickle) plus ``model.json`` describing it.

A bundle is a folder::

    model.skops     the fitted scikit-learn pipeline, saved with skops
    model.json      classes, feature columns, audio and feature params, training data
                    hash, library versions, the SHA-256 of model.skops, and (in the
                    complete bundle the ``bundle`` stage writes) the evaluation metrics;
                    ``info_sha256``, the SHA-256 of the rest of model.json (canonical JSON),
                    as its settings (``speaker_reference``, ``audio``, ...) change predictions
    MODEL_CARD.md   intended use, data, protocol, metrics and limits (complete bundle only)

Loading trusts nothing it has not been told to. Before skops builds a single
object, every type named anywhere in the file's schema must be on
:data:`TRUSTED_TYPES`, an explicit list: skops on its own trusts every
scikit-learn estimator and numpy function by default, which is more than this
project ever saves. Then skops' own audit runs with the same list. A file that
is not a skops zip (a pickle, a truncated copy) is refused before anything reads
its contents as objects.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

from ser.errors import SerError
from ser.files import atomic_dir, sha256_of

MODEL_FILE = "model.skops"
INFO_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"

# Everything a bundle may contain, by the fully qualified name skops records.
# To support another model (say sklearn.ensemble._forest.RandomForestClassifier), add its class here and
# any helper objects it keeps after fitting; tests/test_bundle.py lists the types
# of every configuration `train` can produce, so a missing entry shows up there.
MODEL_TYPES = [  # estimators the train stage can save
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.compose._column_transformer.ColumnTransformer",  # train.blocks equal: a scaler per feature block
    "sklearn.ensemble._voting.VotingClassifier",  # train.ensemble > 1: MLPs of several seeds, probabilities averaged
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.linear_model._logistic.LogisticRegression",  # train.model logreg
    "ser.modeling.calibration.TemperatureScaled",  # train.calibrate: the classifier with a fitted temperature
    "sklearn.calibration.CalibratedClassifierCV",  # train.model svm: Platt-scaled probabilities around...
    "sklearn.svm._classes.SVC",  # ...the RBF SVM
]
PART_TYPES = [  # objects those estimators hold once fitted
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._label.LabelEncoder",  # VotingClassifier's classes...
    "sklearn.utils._bunch.Bunch",  # ...and its members by name (a dict)
    # train.model svm: an SVC inside CalibratedClassifierCV (Platt-scaled probabilities)
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]
DATA_TYPES = [  # plain data: containers, numbers, arrays, random state
    "builtins.dict", "builtins.list", "builtins.tuple",
    "builtins.str", "builtins.int", "builtins.float", "builtins.bool", "builtins.slice",
    "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32",
    "numpy.random.mtrand.RandomState",
]
TRUSTED_TYPES = MODEL_TYPES + PART_TYPES + DATA_TYPES


class BundleError(SerError, ValueError):
    """A model bundle is missing, damaged or holds untrusted content."""


def save_bundle(directory: str | Path, model, info: dict, card: str | None = None) -> None:
    """Write ``model``, ``info`` (plus the model file's SHA-256) and an optional card, atomically."""
    import skops.io as sio

    with atomic_dir(directory) as tmp:
        sio.dump(model, tmp / MODEL_FILE)
        _write_info_and_card(tmp, info, card)


def copy_bundle(source: str | Path, directory: str | Path, info: dict, card: str | None = None) -> None:
    """Write a bundle holding ``source``'s model file byte for byte, with new ``info`` and card."""
    model_bytes = (Path(source) / MODEL_FILE).read_bytes()
    with atomic_dir(directory) as tmp:
        (tmp / MODEL_FILE).write_bytes(model_bytes)
        _write_info_and_card(tmp, info, card)


def _write_info_and_card(folder: Path, info: dict, card: str | None) -> None:
    write_info(folder, {**info, "model_sha256": sha256_of(folder / MODEL_FILE)})
    if card is not None:
        (folder / CARD_FILE).write_text(card)


def write_info(folder: str | Path, info: dict) -> None:
    """Write ``model.json`` into ``folder``: ``info`` and its :func:`info_digest` as ``info_sha256``."""
    info = json.loads(json.dumps(info))  # as it reads back: tuples as lists
    info["info_sha256"] = info_digest(info)
    (Path(folder) / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")


def info_digest(info: dict) -> str:
    """The SHA-256 of ``model.json``'s content but ``info_sha256``, as canonical JSON (sorted keys, no spaces)."""
    content = {key: value for key, value in info.items() if key != "info_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_info(directory: str | Path) -> dict:
    """``model.json`` of a bundle, without touching the model file."""
    directory = Path(directory)
    model_path, info_path = directory / MODEL_FILE, directory / INFO_FILE
    if not directory.is_dir():
        raise BundleError(f"model bundle {directory} not found; train one first (dvc repro) or pass --model DIR")
    for path in (model_path, info_path):
        if not path.is_file():
            raise BundleError(f"{path} not found; the bundle is incomplete: re-run dvc repro or pass --model DIR")
    try:
        info = json.loads(info_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{info_path} is not valid JSON ({error}); re-run dvc repro to rebuild the bundle") from None
    if not isinstance(info, dict) or not isinstance(info.get("classes"), list):
        raise BundleError(f"{info_path} has no list of classes; re-run dvc repro to rebuild the bundle")
    return info


def speaker_reference(info: dict) -> tuple[np.ndarray, np.ndarray]:
    """The training speakers' average statistics (mean, standard deviation) that ``model.json`` records, against
    which a speaker with few recordings is normalised."""
    import numpy as np

    try:
        reference = info["speaker_reference"]
        return np.asarray(reference["mean"], dtype=np.float64), np.asarray(reference["std"], dtype=np.float64)
    except (KeyError, TypeError) as error:
        raise BundleError(f"model.json lacks the training speakers' statistics ({error}); retrain with dvc repro") \
            from None


def load_bundle(directory: str | Path):
    """Return ``(model, info)`` from a bundle folder, refusing damaged files and untrusted types."""
    directory = Path(directory)
    info = read_info(directory)
    model_path = directory / MODEL_FILE
    recorded = info.get("model_sha256")
    if not isinstance(recorded, str):
        raise BundleError(f"{directory / INFO_FILE} lacks the SHA-256 of {MODEL_FILE} (model_sha256); refusing to load "
                          "an unverifiable model: re-run dvc repro or copy the bundle again")
    if recorded != sha256_of(model_path):
        raise BundleError(f"{model_path} does not match the SHA-256 recorded in model.json (damaged or replaced); "
                          "refusing to load it: re-run dvc repro or copy the bundle again")
    if not isinstance(info.get("info_sha256"), str):
        raise BundleError(f"{directory / INFO_FILE} lacks its own SHA-256 (info_sha256; bundles of older versions of "
                          "ser do); refusing settings that cannot be verified: retrain: dvc repro")
    if info["info_sha256"] != info_digest(info):
        raise BundleError(f"{directory / INFO_FILE} does not match its SHA-256 (info_sha256): it was edited or damaged "
                          "after training, and its settings change predictions; refusing it: re-run dvc repro or copy "
                          "the bundle again")
    untrusted = sorted(bundle_types(model_path) - set(TRUSTED_TYPES))
    if untrusted:
        raise BundleError(f"{model_path} contains untrusted types {untrusted}; refusing to load it "
                          "(only types in ser.inference.bundle.TRUSTED_TYPES are loaded)")
    import skops.io as sio  # after the checks: a refused bundle costs no skops import

    try:
        model = sio.load(model_path, trusted=TRUSTED_TYPES)
    except Exception as error:  # skops raises many kinds on damaged files
        raise BundleError(f"{model_path} is not a readable skops model ({type(error).__name__}: {error}); "
                          "re-run dvc repro") from None
    classes = [str(c) for c in getattr(model, "classes_", [])]
    if classes != info["classes"]:
        raise BundleError(f"{model_path} predicts classes {classes} but model.json lists {info['classes']}; "
                          "re-run dvc repro to rebuild the bundle")
    return model, info


def bundle_types(model_path: str | Path) -> set[str]:
    """Every type named in a skops file's schema, read as JSON (nothing is imported or built).

    skops writes a tree of nodes, each naming its ``__module__`` and ``__class__``;
    this collects them all, at any depth.
    """
    try:
        with zipfile.ZipFile(model_path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except zipfile.BadZipFile as error:
        raise BundleError(f"{model_path} is not a skops file (not a zip archive: {error}); it may be truncated or "
                          "a pickle; refusing to load it: re-run dvc repro") from None
    except KeyError:
        raise BundleError(f"{model_path} is not a skops file (no schema.json); refusing to load it: re-run dvc repro") from None
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{model_path} is damaged ({type(error).__name__}: {error}); refusing to load it: "
                          "re-run dvc repro") from None
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node:
                found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    if not found:
        raise BundleError(f"{model_path} has a schema this version of ser does not recognise; refusing to load it")
    return found
