"""The model bundle: a skops file (never pickle) plus ``model.json`` describing it.

A bundle is a folder::

    model.skops     the fitted scikit-learn pipeline, saved with skops
    model.json      a :class:`ModelRecord`: classes, feature columns, audio and feature params, training data
                    hash, library versions, the SHA-256 of model.skops, and (in the
                    complete bundle the ``bundle`` stage writes) the evaluation metrics;
                    ``info_sha256``, the SHA-256 of the rest of model.json (canonical JSON),
                    as its settings (``speaker_reference``, ``audio``, ...) change predictions
    MODEL_CARD.md   intended use, data, protocol, metrics and limits (complete bundle only)
    timeline/       the timeline's model, a bundle of its own (model.skops, model.json), trained on windows of
                    speech (its record's ``windows``); the same classes and features (complete bundle only)

``model.json`` is validated on load with params.yaml's own rules for the sections the two share
(``audio``, ``features``, ``train``, ``split``, ``data.source``), and against the model for what only a bundle
carries (classes, feature columns, the speaker reference). Every file is size-capped before it is read.

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
import io
import json
import math
import re
import warnings
import zipfile
import zlib
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ser.config import (
    CALIBRATION_MODES,
    AudioParams,
    AugmentParams,
    DataParams,
    FeatureParams,
    ParamError,
    Params,
    SplitParams,
    TimelineParams,
    TrainParams,
    VadParams,
    check_audio_for_features,
)
from ser.errors import SerError, shorten
from ser.files import atomic_dir, sha256_of

if TYPE_CHECKING:  # numpy is imported where arrays are made: loading a bundle's settings needs none
    import numpy as np

MODEL_FILE = "model.skops"
INFO_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
TIMELINE_FOLDER = "timeline"

# Sizes past which a bundle file is refused unread. The defaults' bundle: model.json 0.2 MB, model.skops 17 MB
# (1 MB of it skops' schema.json, 26 levels deep); the caps leave room for far larger models while keeping a
# hostile file's parse under a few hundred MB.
MAX_INFO_BYTES = 16 << 20
MAX_MODEL_BYTES = 1 << 30  # model.skops on disk, and its entries once decompressed
MAX_SCHEMA_BYTES = 32 << 20
MAX_JSON_DEPTH = 100  # nesting of model.json and schema.json
VERSIONED = ("scikit-learn", "skops", "numpy", "scipy", "soxr", "soundfile", "librosa")  # recorded at training

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
    "ser.modeling.calibration.TemperatureScaled",  # train.calibrate: the classifier with a temperature per mode
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
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.slice",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "numpy.random.mtrand.RandomState",
]
TRUSTED_TYPES = MODEL_TYPES + PART_TYPES + DATA_TYPES


class BundleError(SerError, ValueError):
    """A model bundle is missing, damaged or holds untrusted content."""


# What everything that speaks for a model of the demo corpus (TrainingData.demo) says: ser predict, ser timeline,
# ser serve and ser info on stderr, ser.load as a DemoModelWarning, the model card (the page has its own banner)
DEMO_WARNING = (
    "this model was trained on the synthetic demo corpus (generated signals, not speech): its predictions on real "
    "recordings mean nothing; train on real speech: dvc exp run -S data.source=FOLDER -S data.emotions=all "
    "(docs/corpora.md)"
)


# ---- The record: model.json, typed and validated -------------------------------------------------------------


def _check(ok: bool, key: str, value, allowed: str) -> None:
    """Refuse ``value`` at ``key`` unless ``ok``, worded as params.yaml's checks are."""
    if not ok:
        raise ParamError(key, f"got {shorten(repr(value))}; allowed: {allowed}")


def _names(key: str, value, minimum: int) -> tuple[str, ...]:
    """At least ``minimum`` distinct strings, as a tuple."""
    _check(
        isinstance(value, (list, tuple))
        and len(value) >= minimum
        and all(isinstance(v, str) for v in value)
        and len(set(value)) == len(value),
        key,
        value,
        f"a list of at least {minimum} distinct names",
    )
    return tuple(value)


def _numbers(key: str, value) -> tuple[float, ...]:
    """A list of finite numbers, as a tuple of floats."""
    _check(
        isinstance(value, (list, tuple))
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value),
        key,
        value,
        "a list of finite numbers",
    )
    return tuple(map(float, value))


def _is_count(value) -> bool:
    """An integer >= 1 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _temperatures(value) -> dict[str, float]:
    """A positive finite temperature for each mode of :data:`ser.config.CALIBRATION_MODES`, in that order."""
    _check(
        isinstance(value, dict)
        and sorted(value) == sorted(CALIBRATION_MODES)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in value.values()
        ),
        "calibration",
        value,
        f"a positive number for each of {', '.join(CALIBRATION_MODES)}",
    )
    return {mode: float(value[mode]) for mode in CALIBRATION_MODES}


def _is_digest(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _fields(key: str, value, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """``value`` as a mapping holding every key of ``required`` and no key but those and ``optional``."""
    where = f"{key}." if key else ""
    _check(isinstance(value, dict), key or "(top level)", value, "a mapping")
    for name in value:
        if name not in required + optional:
            raise ParamError(
                f"{where}{name}",
                f"unknown key; allowed keys{f' in {key}' if key else ''}: {', '.join(required + optional)}",
            )
    for name in required:
        if name not in value:
            raise ParamError(f"{where}{name}", "missing")
    return value


@dataclass(frozen=True)
class SpeakerReference:
    """The training speakers' average statistics, a mean and a standard deviation per feature column: a speaker
    with few recordings is normalised against them (:func:`ser.modeling.normalize.normalize_new_speakers`)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "mean", _numbers("speaker_reference.mean", self.mean))
        object.__setattr__(self, "std", _numbers("speaker_reference.std", self.std))
        _check(all(v > 0 for v in self.std), "speaker_reference.std", self.std, "positive numbers")

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` as float64 arrays."""
        import numpy as np

        return np.asarray(self.mean, dtype=np.float64), np.asarray(self.std, dtype=np.float64)


@dataclass(frozen=True)
class TrainingData:
    """The corpus the model was trained on (``data.source`` and ``data.dataset``, as params.yaml gave them), its
    training files' count and speakers, and ``train_sha256``: the SHA-256 over their sorted content hashes.

    ``demo`` says whether that corpus is the synthetic demo one (``data.source: demo``): signals, not speech, so the
    model's predictions on real recordings mean nothing, and everything that speaks for the model says so.
    ``corpus_files`` counts the files the model's split drew from (training and test); None in bundles written
    before it was recorded, whose ``demo`` is read from ``source``. ``copies`` are the perturbed copies of the
    training files (``features.augment.copies``) the model trained on beside them; empty when none (and in bundles
    written before they were recorded)."""

    source: str
    dataset: str
    train_files: int
    train_speakers: tuple[str, ...]
    train_sha256: str
    demo: bool | None = None  # None: from source
    corpus_files: int | None = None
    copies: tuple[str, ...] = ()

    def __post_init__(self):
        DataParams(source=self.source, dataset=self.dataset, emotions="all")  # params.yaml's rules for the two
        try:
            object.__setattr__(self, "copies", AugmentParams(copies=self.copies).copies)  # params.yaml's rules
        except ParamError as error:
            raise ParamError("data.copies", error.problem) from None
        _check(_is_count(self.train_files), "data.train_files", self.train_files, "an integer >= 1")
        object.__setattr__(self, "train_speakers", _names("data.train_speakers", self.train_speakers, 1))
        _check(_is_digest(self.train_sha256), "data.train_sha256", self.train_sha256, "64 hexadecimal digits")
        is_demo = self.source == "demo"
        if self.demo is None:
            object.__setattr__(self, "demo", is_demo)
        _check(self.demo is is_demo, "data.demo", self.demo, f"{str(is_demo).lower()} (data.source is {self.source!r})")
        _check(
            self.corpus_files is None or (_is_count(self.corpus_files) and self.corpus_files >= self.train_files),
            "data.corpus_files",
            self.corpus_files,
            f"an integer >= data.train_files ({self.train_files})",
        )


@dataclass(frozen=True)
class EncoderWeights:
    """The pretrained weights the whisper features come from (:func:`ser.features.weights.weights_info`): the
    ``features.whisper.model`` given, their origin, their SHA-256, the runtime that ran them and the SHA-256 of
    the encoder graph it ran (built from them for the chosen layers and arithmetic)."""

    model: str
    source: str
    sha256: str
    runtime: str
    graph: str

    def __post_init__(self):
        for name in ("model", "source", "runtime"):
            value = getattr(self, name)
            _check(isinstance(value, str) and value != "", f"weights.whisper.{name}", value, "a non-empty string")
        _check(_is_digest(self.sha256), "weights.whisper.sha256", self.sha256, "64 hexadecimal digits")
        _check(_is_digest(self.graph), "weights.whisper.graph", self.graph, "64 hexadecimal digits")


@dataclass(frozen=True)
class WindowTraining:
    """How a timeline model's training rows were taken (:mod:`ser.timeline.training`): windows of ``window``
    seconds every ``hop`` over each training clip's speech, found with ``vad``, and each clip's speech whole;
    ``rows`` of them."""

    window: float
    hop: float
    vad: VadParams
    rows: int

    def __post_init__(self):
        vad = (
            self.vad
            if isinstance(self.vad, VadParams)
            else VadParams(**_fields("windows.vad", self.vad, _names_of(VadParams)))
        )
        object.__setattr__(self, "vad", vad)
        TimelineParams(window=self.window, hop=self.hop, vad=vad)  # params.yaml's rules for the three
        _check(
            isinstance(self.rows, int) and not isinstance(self.rows, bool) and self.rows >= 1,
            "windows.rows",
            self.rows,
            "an integer >= 1",
        )


@dataclass(frozen=True)
class ModelRecord:
    """What ``model.json`` says of a bundle's model: what it predicts, from which features, how it was trained
    and on what, and (in the complete bundle) how it scored. Built by :meth:`from_training`; a stored one is
    read back, and validated, by :meth:`from_dict`. Invalid content raises :class:`ser.config.ParamError`
    naming the key."""

    classes: tuple[str, ...]  # the emotions, in the order of the probability columns
    feature_columns: tuple[str, ...]  # the feature names, in the order the model takes them
    audio: AudioParams  # how recordings are decoded
    features: FeatureParams  # how features are extracted (feature_columns are among its names)
    train: TrainParams
    split: SplitParams
    data: TrainingData
    versions: dict[str, str]  # the libraries of VERSIONED at training time
    whisper_weights: EncoderWeights | None = None  # exactly when features.families holds whisper
    speaker_reference: SpeakerReference | None = None  # exactly when train.normalize is speaker
    windows: WindowTraining | None = None  # a timeline model: the windows of speech it was trained on
    calibration: dict[str, float] | None = None  # a calibrated model's temperature per normalisation mode
    model_sha256: str | None = None  # of model.skops: set when the bundle is written
    estimator: str | None = None  # the complete bundle: the pipeline's steps, e.g. StandardScaler -> TemperatureScaled
    metrics: dict | None = None  # the complete bundle: {"test": {...}, "crossval": {...}}

    def __post_init__(self):
        object.__setattr__(self, "classes", _names("classes", self.classes, 2))
        object.__setattr__(self, "feature_columns", _names("feature_columns", self.feature_columns, 1))
        check_audio_for_features(self.audio, self.features)
        _check(
            isinstance(self.versions, dict) and all(isinstance(v, str) for v in self.versions.values()),
            "versions",
            self.versions,
            "a mapping of library names to versions",
        )
        _check(
            (self.whisper_weights is None) == ("whisper" not in self.features.families),
            "weights",
            self.whisper_weights,
            "the whisper weights, exactly when features.families holds whisper",
        )
        _check(
            (self.speaker_reference is None) == (self.normalize != "speaker"),
            "speaker_reference",
            self.speaker_reference,
            "the training speakers' statistics, exactly when train.normalize is speaker",
        )
        if self.speaker_reference is not None:
            for name in ("mean", "std"):
                count = len(getattr(self.speaker_reference, name))
                if count != len(self.feature_columns):
                    raise ParamError(
                        f"speaker_reference.{name}",
                        f"got {count} numbers; allowed: one per feature column ({len(self.feature_columns)})",
                    )
        if self.calibration is not None:
            object.__setattr__(self, "calibration", _temperatures(self.calibration))
        _check(
            self.model_sha256 is None or _is_digest(self.model_sha256),
            "model_sha256",
            self.model_sha256,
            "64 hexadecimal digits",
        )
        _check(self.estimator is None or isinstance(self.estimator, str), "estimator", self.estimator, "a string")
        if self.metrics is not None:
            _fields("metrics", self.metrics, ("test", "crossval"))

    @property
    def normalize(self) -> str:
        """``speaker`` when the model expects each speaker's features standardised by that speaker's statistics
        (:func:`ser.modeling.normalize.normalize`), else ``none``."""
        return self.train.normalize

    @classmethod
    def from_training(
        cls,
        model,
        params: Params,
        train,
        columns: list[str],
        *,
        windows: WindowTraining | None = None,
        corpus_files: int | None = None,
    ) -> ModelRecord:
        """The record of ``model``, fitted with ``params`` on the rows of ``train`` (the features table's
        training rows, or a timeline model's windows table and its ``windows``: ``file``, ``speaker``,
        ``sha256`` and the feature ``columns`` before any normalisation), drawn from a corpus of
        ``corpus_files`` files (the features table's rows)."""
        from importlib.metadata import version

        whisper_weights = reference = None
        if "whisper" in params.features.families:  # ser predict refuses other weights than these
            from ser.features.weights import weights_info

            whisper = params.features.whisper
            whisper_weights = EncoderWeights(**weights_info(whisper.model, whisper.layers, whisper.compute_type))
        if params.train.normalize == "speaker":  # lets ser predict standardise a speaker with few recordings
            from ser.modeling.normalize import reference_statistics

            mean, std = reference_statistics(train[columns].to_numpy(), train["speaker"].to_numpy())
            reference = SpeakerReference(tuple(mean.tolist()), tuple(std.tolist()))
        files = train.drop_duplicates("sha256")  # a clip gives a timeline model several rows
        data = TrainingData(
            source=params.data.source,
            dataset=params.data.dataset,
            train_files=len(files),
            train_speakers=tuple(sorted(map(str, files["speaker"].unique()))),
            train_sha256=hashlib.sha256("".join(sorted(files["sha256"])).encode()).hexdigest(),
            corpus_files=corpus_files,
            copies=params.features.augment.copies,
        )
        from ser.modeling.calibration import temperatures_of

        return cls(
            classes=tuple(str(c) for c in model.classes_),
            feature_columns=tuple(columns),
            audio=params.audio,
            features=params.features,
            train=params.train,
            split=params.split,
            data=data,
            versions={name: version(name) for name in VERSIONED},
            whisper_weights=whisper_weights,
            speaker_reference=reference,
            windows=windows,
            calibration=temperatures_of(model),
        )

    @classmethod
    def from_dict(cls, info) -> ModelRecord:
        """A stored ``model.json`` (without ``info_sha256``) as a record. Its ``audio``, ``features``, ``train`` and
        ``split`` are validated by :meth:`ser.config.Params.from_dict`, as params.yaml is, cross-checks included."""
        info = _fields("", info, STORED_KEYS, OPTIONAL_KEYS)
        params = Params.from_dict({name: info[name] for name in ("audio", "features", "train", "split")})
        if info["normalize"] != params.train.normalize:
            raise ParamError(
                "normalize",
                f"got {shorten(repr(info['normalize']))}; allowed: train.normalize's value ({params.train.normalize})",
            )
        weights = _fields("weights", info.get("weights", {}), (), ("whisper",))
        reference = info.get("speaker_reference")
        windows = info.get("windows")
        return cls(
            classes=info["classes"],
            feature_columns=info["feature_columns"],
            audio=params.audio,
            features=params.features,
            train=params.train,
            split=params.split,
            data=TrainingData(**_fields("data", info["data"], *_keys_of(TrainingData))),
            versions=info["versions"],
            whisper_weights=None
            if "whisper" not in weights
            else EncoderWeights(**_fields("weights.whisper", weights["whisper"], _names_of(EncoderWeights))),
            speaker_reference=None
            if reference is None
            else SpeakerReference(**_fields("speaker_reference", reference, ("mean", "std"))),
            windows=None
            if windows is None
            else WindowTraining(**_fields("windows", windows, _names_of(WindowTraining))),
            calibration=info.get("calibration"),
            model_sha256=info.get("model_sha256"),
            estimator=info.get("estimator"),
            metrics=info.get("metrics"),
        )

    def as_dict(self) -> dict:
        """The record as ``model.json`` stores it, in JSON types (:func:`write_info` adds ``info_sha256``)."""
        info = {
            "classes": self.classes,
            "feature_columns": self.feature_columns,
            "normalize": self.normalize,
            "audio": asdict(self.audio),
            "features": self.features.definition(),
            "train": asdict(self.train),
            "split": asdict(self.split),
            "data": {key: value for key, value in asdict(self.data).items() if value not in (None, ())},
            "versions": self.versions,
        }
        optional = {
            "weights": None if self.whisper_weights is None else {"whisper": asdict(self.whisper_weights)},
            "speaker_reference": None if self.speaker_reference is None else asdict(self.speaker_reference),
            "windows": None if self.windows is None else asdict(self.windows),
            "calibration": self.calibration,
            "model_sha256": self.model_sha256,
            "estimator": self.estimator,
            "metrics": self.metrics,
        }
        info.update({key: value for key, value in optional.items() if value is not None})
        return json.loads(json.dumps(info))  # as it reads back: tuples as lists


def _names_of(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _keys_of(cls) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A record dataclass's stored keys: ``(required, optional)``, the optional ones those with a default."""
    return tuple(f.name for f in fields(cls) if f.default is MISSING), tuple(
        f.name for f in fields(cls) if f.default is not MISSING
    )


STORED_KEYS = ("classes", "feature_columns", "normalize", "audio", "features", "train", "split", "data", "versions")
OPTIONAL_KEYS = ("weights", "speaker_reference", "windows", "calibration", "model_sha256", "estimator", "metrics")


# ---- The bundle's files -----------------------------------------------------------------------------------------


def save_bundle(directory: str | Path, model, record: ModelRecord, card: str | None = None) -> None:
    """Write ``model``, ``record`` (with the model file's SHA-256) and an optional card, atomically."""
    import skops.io as sio

    with atomic_dir(directory) as tmp:
        (tmp / MODEL_FILE).write_bytes(reproducible_skops(sio.dumps(model)))
        _write_record_and_card(tmp, record, card)


def reproducible_skops(data: bytes) -> bytes:
    """A skops file's bytes rewritten so that the same model always gives the same bytes.

    skops names each array's entry after the array's memory address and each bytes entry after a random UUID,
    marks each object with its memory address (``__id__``, how a loader knows two references for one object) and
    stamps every entry with the time it was written. Here entries and ``__id__`` values are numbered in the order
    skops wrote them (its walk of the model, fixed by the model), ``schema.json`` follows, and every entry gets the
    same timestamp (1980-01-01, the earliest a zip holds) and permissions.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = [info for info in source.infolist() if info.filename != "schema.json"]
        names = {info.filename: f"{number:06d}{Path(info.filename).suffix}" for number, info in enumerate(entries)}
        schema = _numbered(json.loads(source.read("schema.json")), names, {})
        contents = [(names[info.filename], info.compress_type, source.read(info)) for info in entries]
    contents.append(("schema.json", zipfile.ZIP_STORED, json.dumps(schema, indent=2).encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, compression, content in contents:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            target.writestr(info, content)
    return buffer.getvalue()


def _numbered(node, names: dict[str, str], ids: dict[int, int]):
    """``node`` (a skops schema) with its ``"file"`` references renamed by ``names`` and each ``"__id__"`` replaced
    by its number in order of first appearance (kept in ``ids``)."""
    if isinstance(node, list):
        return [_numbered(value, names, ids) for value in node]
    if not isinstance(node, dict):
        return node
    numbered = {}
    for key, value in node.items():
        if key == "file" and isinstance(value, str):
            numbered[key] = names[value]
        elif key == "__id__" and isinstance(value, int):
            numbered[key] = ids.setdefault(value, len(ids) + 1)
        else:
            numbered[key] = _numbered(value, names, ids)
    return numbered


def copy_bundle(
    source: str | Path,
    directory: str | Path,
    record: ModelRecord,
    card: str | None = None,
    timeline: str | Path | None = None,
) -> None:
    """Write a bundle holding ``source``'s model file byte for byte, with a new ``record`` and card, and the
    timeline model's bundle ``timeline`` (its two files as they are) in :data:`TIMELINE_FOLDER`."""
    model_bytes = (Path(source) / MODEL_FILE).read_bytes()
    with atomic_dir(directory) as tmp:
        (tmp / MODEL_FILE).write_bytes(model_bytes)
        _write_record_and_card(tmp, record, card)
        if timeline is not None:
            (tmp / TIMELINE_FOLDER).mkdir()
            for name in (MODEL_FILE, INFO_FILE):
                (tmp / TIMELINE_FOLDER / name).write_bytes((Path(timeline) / name).read_bytes())


def _write_record_and_card(folder: Path, record: ModelRecord, card: str | None) -> None:
    write_info(folder, replace(record, model_sha256=sha256_of(folder / MODEL_FILE)).as_dict())
    if card is not None:
        (folder / CARD_FILE).write_text(card)


def write_info(folder: str | Path, info: dict) -> None:
    """Write ``info`` as ``model.json`` into ``folder``, with its :func:`info_digest` as ``info_sha256``."""
    (Path(folder) / INFO_FILE).write_text(json.dumps(with_digest(info), indent=2) + "\n")


def with_digest(info: dict) -> dict:
    """``info`` as ``model.json`` stores it: in JSON types, its :func:`info_digest` as ``info_sha256``."""
    info = json.loads(json.dumps(info))
    return {**info, "info_sha256": info_digest(info)}


def info_digest(info: dict) -> str:
    """The SHA-256 of ``model.json``'s content but ``info_sha256``, as canonical JSON (sorted keys, no spaces)."""
    content = {key: value for key, value in info.items() if key != "info_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_info(directory: str | Path, given_as: str = "--model DIR") -> dict:
    """``model.json`` of a bundle as stored (a JSON object of bounded size and depth, not yet validated), without
    touching the model file; a missing bundle's message tells to give another as ``given_as``."""
    directory = Path(directory)
    model_path, info_path = directory / MODEL_FILE, directory / INFO_FILE
    if not directory.is_dir():
        raise BundleError(f"model bundle {directory} not found; train one first (dvc repro) or pass {given_as}")
    for path in (model_path, info_path):
        if not path.is_file():
            raise BundleError(f"{path} not found; the bundle is incomplete: re-run dvc repro or pass {given_as}")
    with open(info_path, "rb") as handle:
        content = handle.read(MAX_INFO_BYTES + 1)
    if len(content) > MAX_INFO_BYTES:
        raise BundleError(
            f"{info_path} is larger than the {MAX_INFO_BYTES:,} bytes a model.json may take; refusing "
            "to read it: re-run dvc repro or copy the bundle again"
        )
    info = _parse_json(content, str(info_path))
    if not isinstance(info, dict):
        raise BundleError(f"{info_path} is not a JSON object; re-run dvc repro to rebuild the bundle")
    return info


def _parse_json(content: bytes, name: str):
    """``content`` parsed as JSON nested at most :data:`MAX_JSON_DEPTH` deep, or a one-line :class:`BundleError`."""
    try:
        value = json.loads(content)
    except RecursionError:
        value = None
    except ValueError as error:  # not JSON, or not UTF-8
        raise BundleError(
            f"{name} is not valid JSON ({shorten(str(error))}); re-run dvc repro to rebuild the bundle"
        ) from None
    if value is None or _depth(value) > MAX_JSON_DEPTH:
        raise BundleError(
            f"{name} is nested more than {MAX_JSON_DEPTH} levels deep; refusing to read it: re-run "
            "dvc repro to rebuild the bundle"
        )
    return value


def _depth(value) -> int:
    """How deep lists and mappings nest in ``value`` (0 for a plain value), without recursion."""
    deepest, pending = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        node, level = pending.pop()
        deepest = max(deepest, level)
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def read_record(directory: str | Path, given_as: str = "--model DIR") -> ModelRecord:
    """A bundle's :class:`ModelRecord`, its files checked against the digests ``model.json`` records and its
    settings validated, without loading the model (``given_as``: as :func:`read_info`)."""
    directory = Path(directory)
    info = read_info(directory, given_as)
    info_path = directory / INFO_FILE
    _check_digests(info, directory / MODEL_FILE, info_path)
    try:
        return ModelRecord.from_dict({key: value for key, value in info.items() if key != "info_sha256"})
    except ParamError as error:
        raise BundleError(
            f"{info_path}: {error.key}: {error.problem}; refusing the bundle: retrain it with dvc repro"
        ) from None


def load_bundle(directory: str | Path, given_as: str = "--model DIR") -> tuple[object, ModelRecord]:
    """Return ``(model, record)`` from a bundle folder, refusing damaged, oversized or untrusted files, and settings
    that params.yaml's rules or the model itself contradict (``given_as``: as :func:`read_info`)."""
    record = read_record(directory, given_as)
    model_path = Path(directory) / MODEL_FILE
    _check_types(_schema(model_path), model_path)
    model = _skops_model(model_path)
    _check_model(model, record, model_path)
    return model, record


def load_for_prediction(directory: str | Path, given_as: str = "--model DIR") -> tuple[object, ModelRecord]:
    """:func:`load_bundle`'s ``(model, record)``, checked as it checks them, the model read as arrays without
    scikit-learn (:func:`ser.inference.fitted.forward_model`) where it can be, else loaded by skops and given the
    same ``predict_proba(X, mode)`` (:class:`ser.modeling.calibration.Calibrated`)."""
    from ser.inference.fitted import forward_model

    record = read_record(directory, given_as)
    model_path = Path(directory) / MODEL_FILE
    schema = _schema(model_path)
    _check_types(schema, model_path)
    model = forward_model(model_path, schema)
    if model is None:
        from sklearn.exceptions import InconsistentVersionWarning

        from ser.modeling.calibration import Calibrated

        with warnings.catch_warnings():  # ser.inference.predictor.version_warning says it in one line instead
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            model = Calibrated(_skops_model(model_path))
    _check_model(model, record, model_path)
    return model, record


def estimator_of(directory: str | Path) -> str:
    """The bundle's model named by its steps' classes, e.g. ``StandardScaler -> TemperatureScaled``, read from the
    skops file's schema without loading the model (:func:`ser.inference.fitted.step_names`)."""
    from ser.inference.fitted import step_names

    return step_names(_schema(Path(directory) / MODEL_FILE))


def _check_types(schema, model_path: Path) -> None:
    untrusted = sorted(_types_in(schema, model_path) - set(TRUSTED_TYPES))
    if untrusted:
        raise BundleError(
            f"{model_path} contains untrusted types {untrusted}; refusing to load it "
            "(only types in ser.inference.bundle.TRUSTED_TYPES are loaded)"
        )


def _skops_model(model_path: Path):
    """The model in a skops file whose types were checked, loaded by skops with the trusted list."""
    import skops.io as sio  # after the checks: a refused bundle costs no skops import

    try:
        return sio.load(model_path, trusted=TRUSTED_TYPES)
    except Exception as error:  # skops raises many kinds on damaged files
        raise BundleError(
            f"{model_path} is not a readable skops model ({type(error).__name__}: "
            f"{shorten(str(error))}); re-run dvc repro"
        ) from None


def _check_digests(info: dict, model_path: Path, info_path: Path) -> None:
    """``model.skops`` (size-capped before it is hashed) and ``model.json`` must match the digests recorded."""
    recorded = info.get("model_sha256")
    if not isinstance(recorded, str):
        raise BundleError(
            f"{info_path} lacks the SHA-256 of {MODEL_FILE} (model_sha256); refusing to load an "
            "unverifiable model: re-run dvc repro or copy the bundle again"
        )
    size = model_path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise BundleError(
            f"{model_path} is {size:,} bytes, more than the {MAX_MODEL_BYTES:,} a model may take; "
            "refusing to read it: re-run dvc repro or copy the bundle again"
        )
    if recorded != sha256_of(model_path):
        raise BundleError(
            f"{model_path} does not match the SHA-256 recorded in model.json (damaged or replaced); "
            "refusing to load it: re-run dvc repro or copy the bundle again"
        )
    if not isinstance(info.get("info_sha256"), str):
        raise BundleError(
            f"{info_path} lacks its own SHA-256 (info_sha256; bundles of older versions of "
            "ser do); refusing settings that cannot be verified: retrain: dvc repro"
        )
    if info["info_sha256"] != info_digest(info):
        raise BundleError(
            f"{info_path} does not match its SHA-256 (info_sha256): it was edited or damaged "
            "after training, and its settings change predictions; refusing it: re-run dvc repro or copy "
            "the bundle again"
        )


def _check_model(model, record: ModelRecord, model_path: Path) -> None:
    """The model must predict the record's classes from as many features as it lists."""
    classes = [str(c) for c in getattr(model, "classes_", [])]
    if classes != list(record.classes):
        raise BundleError(
            f"{model_path} predicts classes {shorten(str(classes))} but model.json lists "
            f"{shorten(str(list(record.classes)))}; re-run dvc repro to rebuild the bundle"
        )
    takes = getattr(model, "n_features_in_", None)
    if takes != len(record.feature_columns):
        raise BundleError(
            f"{model_path} takes {takes} features but model.json lists {len(record.feature_columns)} "
            "feature_columns; re-run dvc repro to rebuild the bundle"
        )
    _check_calibration(model, record, model_path)


def _check_calibration(model, record: ModelRecord, model_path: Path) -> None:
    """The model's temperature per normalisation mode must be the one model.json lists (the predictor applies the
    model's, by the mode the record names)."""
    if hasattr(model, "temperatures"):  # read as arrays, or wrapped for prediction
        found = model.temperatures
    else:
        from ser.modeling.calibration import temperatures_of

        found = temperatures_of(model)
    if found != record.calibration:
        raise BundleError(
            f"{model_path} holds the temperatures {found} but model.json lists calibration {record.calibration}; "
            "re-run dvc repro to rebuild the bundle"
        )


def bundle_types(model_path: str | Path) -> set[str]:
    """Every type named in a skops file's schema, read as JSON (nothing is imported or built).

    skops writes a tree of nodes, each naming its ``__module__`` and ``__class__``;
    this collects them all, at any depth.
    """
    return _types_in(_schema(Path(model_path)), model_path)


def _schema(model_path: Path):
    """A skops file's ``schema.json``, parsed (bounded as :func:`_read_schema` and :func:`_parse_json` say)."""
    return _parse_json(_read_schema(model_path), f"{model_path} (its schema.json)")


def _types_in(schema, model_path: str | Path) -> set[str]:
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


def _read_schema(model_path: Path) -> bytes:
    """The bytes of skops' ``schema.json`` in ``model_path``, refused unread when the zip's entries would expand
    past :data:`MAX_MODEL_BYTES` or the schema past :data:`MAX_SCHEMA_BYTES`."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            expanded = sum(entry.file_size for entry in archive.infolist())
            declared = archive.getinfo("schema.json").file_size
            if expanded <= MAX_MODEL_BYTES and declared <= MAX_SCHEMA_BYTES:
                with archive.open("schema.json") as schema:
                    return schema.read()  # never past the declared size: a longer stream fails its CRC
    except zipfile.BadZipFile as error:
        raise BundleError(
            f"{model_path} is not a skops file (a damaged or foreign zip: {error}); it may be truncated "
            "or a pickle; refusing to load it: re-run dvc repro"
        ) from None
    except KeyError:
        raise BundleError(
            f"{model_path} is not a skops file (no schema.json); refusing to load it: re-run dvc repro"
        ) from None
    except (OSError, EOFError, zlib.error) as error:
        raise BundleError(
            f"{model_path} is damaged ({type(error).__name__}: {error}); refusing to load it: re-run dvc repro"
        ) from None
    raise BundleError(
        f"{model_path} would expand to {expanded:,} bytes, its schema.json to {declared:,} (at most "
        f"{MAX_MODEL_BYTES:,} and {MAX_SCHEMA_BYTES:,}); refusing to read it: re-run dvc repro"
    )


def check_timeline_model(record: ModelRecord, timeline: ModelRecord, folder: Path) -> None:
    """A bundle's timeline model (``timeline``, loaded from ``folder``) must be trained on windows and predict the
    same classes from the same features as the bundle's model (``record``)."""
    for key, problem in (
        ("windows", timeline.windows is None),
        ("classes", timeline.classes != record.classes),
        ("features", timeline.features != record.features or timeline.audio != record.audio),
    ):
        if problem:
            raise BundleError(
                f"{folder / INFO_FILE}: its {key} do not fit the bundle's model (a timeline model is trained on "
                "windows of speech, with the same classes and features); rebuild the bundle with dvc repro"
            )
