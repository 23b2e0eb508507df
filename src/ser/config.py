"""Pipeline parameters: load ``params.yaml`` and validate every key before any work.

Each section of ``params.yaml`` maps onto one frozen dataclass whose defaults are
the shipped ``params.yaml``'s values (tests/test_config.py keeps the two equal).
Validation fails with a :class:`ParamError` whose message is one line naming the
key, the value and what is allowed, so a stage can stop before it reads a single file.
What only a corpus can tell (whether ``data.dataset``'s corpus has an emotion, whether
``data.source`` is an archive a checksum can pin) :mod:`ser.corpus` checks when ingest
starts, before it downloads or reads anything: ser.corpus imports this module, never the reverse.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ser.errors import SerError
from ser.names import (
    AUGMENTATIONS,
    CORPUS_CONVENTIONS,
    EMOTIONS,
    EVAL_CHANNELS,
    FEATURE_FAMILIES,
    FEATURE_STATS,
    SMOOTHINGS,
)

WHISPER_COMPUTE_TYPES = ("int8", "float32")  # the encoder graph's arithmetic (ser.features.encoder)
FEATURE_EXECUTION_KEYS = ("workers", "executor", "scheduler")  # change how, never what, features are computed
MODELS = ("mlp", "svm", "logreg")
NORMALIZATIONS = ("none", "speaker")  # implemented in ser.modeling.normalize
# how a file was normalised, each with its own calibration (ser.modeling.calibration): with its speaker's
# recordings (own statistics), or alone (a lone clip, or a speaker with few recordings: shrunk statistics)
CALIBRATION_MODES = ("together", "alone")
BLOCK_WEIGHTINGS = ("equal", "columns")  # implemented in ser.modeling.model.build_scaler


class ParamError(SerError, ValueError):
    """A parameter in params.yaml is missing, unknown or out of range."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"params.yaml: {key}: {problem}")


def _choice(key: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise ParamError(key, f"got {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def _integer(key: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        bound = f" in [{low}, {high}]" if high is not None else f" >= {low}" if low is not None else ""
        raise ParamError(key, f"got {value!r}; allowed: an integer{bound}")
    return value


def _number(
    key: str, value: Any, *, low: float, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value > low if low_open else value >= low
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        upper = "inf" if high is None else f"{high:g}"
        raise ParamError(key, f"got {value!r}; allowed: a number in {left}{low:g}, {upper}{right}")
    return float(value)


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamError(key, f"got {value!r}; allowed: true or false")
    return value


SOURCE_KINDS = "demo, a folder of audio files, a manifest CSV, a zip/tar archive, or an http(s) URL of an archive"


@dataclass(frozen=True)
class DataParams:
    """Where the audio comes from and which of it is used."""

    source: str = "demo"
    dataset: str = "ravdess"
    emotions: tuple[str, ...] | str = ("neutral", "calm", "happy", "disgust")
    sha256: str | None = None
    max_archive_bytes: int = 20_000_000_000
    max_archive_files: int = 1_000_000
    max_download_bytes: int = 20_000_000_000

    def __post_init__(self):
        _integer("data.max_archive_bytes", self.max_archive_bytes, low=1)
        _integer("data.max_archive_files", self.max_archive_files, low=1)
        _integer("data.max_download_bytes", self.max_download_bytes, low=1)
        if not isinstance(self.source, str) or not self.source:
            raise ParamError("data.source", f"got {self.source!r}; allowed: {SOURCE_KINDS}")
        _choice("data.dataset", self.dataset, CORPUS_CONVENTIONS)
        self._check_sha256()
        self._check_emotions()

    def _check_sha256(self):
        if self.sha256 is None:
            return
        if not isinstance(self.sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            raise ParamError("data.sha256", f"got {self.sha256!r}; allowed: 64 hexadecimal digits, or null")
        object.__setattr__(self, "sha256", self.sha256.lower())

    def _check_emotions(self):
        emotions = self.emotions
        if emotions == "all":
            return
        allowed = f"all or a list of {', '.join(EMOTIONS)}"
        if isinstance(emotions, str) or not emotions:
            raise ParamError("data.emotions", f"got {self.emotions!r}; allowed: {allowed}")
        for emotion in emotions:
            if emotion not in EMOTIONS:
                raise ParamError("data.emotions", f"unknown emotion {emotion!r}; allowed: {allowed}")
        if len(set(emotions)) < 2:
            raise ParamError("data.emotions", f"got {self.emotions!r}; allowed: at least two distinct emotions")
        object.__setattr__(self, "emotions", tuple(dict.fromkeys(emotions)))


@dataclass(frozen=True)
class AudioParams:
    """How every file is decoded: mono, resampled to ``sample_rate``; longer than ``max_seconds`` is refused.

    The upper bounds keep one decoded file within memory (4 h at 16 kHz is 0.9 GB of float32): a bundle's
    ``model.json`` carries these settings too, and ``ser predict`` decodes with them.
    """

    sample_rate: int = 16000
    max_seconds: float = 300

    def __post_init__(self):
        _integer("audio.sample_rate", self.sample_rate, low=8000, high=192000)
        _number("audio.max_seconds", self.max_seconds, low=0, low_open=True, high=4 * 3600)


def _names(key: str, value, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A non-empty list of distinct names from ``allowed``."""
    names = (value,) if isinstance(value, str) else value
    if (
        not names
        or not isinstance(names, (list, tuple))
        or len(set(names)) != len(names)
        or any(name not in allowed for name in names)
    ):
        raise ParamError(key, f"got {value!r}; allowed: a list of distinct names from {', '.join(allowed)}")
    return tuple(names)


@dataclass(frozen=True)
class WhisperParams:
    """``features.whisper``: the encoder family's weights, arithmetic, input length and statistics."""

    model: str = "base"  # base (shipped, offline) or the path of a CTranslate2 Whisper folder
    compute_type: str = "int8"
    padded: bool = False  # pad each file to Whisper's standard 30 s input (about 30x the work)
    stats: tuple[str, ...] = ("mean", "std")
    layers: tuple[int, ...] | str = (2, 3, 4)  # encoder layers whose frames are summarised (1 = the first), or all

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise ParamError(
                "features.whisper.model",
                f"got {self.model!r}; allowed: base, or the path of a CTranslate2 Whisper folder",
            )
        _choice("features.whisper.compute_type", self.compute_type, WHISPER_COMPUTE_TYPES)
        _boolean("features.whisper.padded", self.padded)
        object.__setattr__(self, "stats", _names("features.whisper.stats", self.stats, FEATURE_STATS))
        if self.layers != "all":
            layers = (self.layers,) if isinstance(self.layers, int) else self.layers
            if (
                not isinstance(layers, (list, tuple))
                or not layers
                or len(set(layers)) != len(layers)
                or any(isinstance(layer, bool) or not isinstance(layer, int) or layer < 1 for layer in layers)
            ):
                raise ParamError(
                    "features.whisper.layers",
                    f"got {self.layers!r}; allowed: all, or a list of distinct "
                    "layer numbers from 1 (the encoder's first layer)",
                )
            object.__setattr__(self, "layers", tuple(sorted(layers)))


def _perturbation(key: str, text: Any, kinds: Iterable[str]) -> str:
    """``text``, a perturbation of ser.features.augment (``"phone 3400"``: a kind among ``kinds`` and its value
    within :data:`ser.names.AUGMENTATIONS`' bounds); ParamError naming ``key`` and what is allowed otherwise."""
    allowed = ", ".join(f"{kind} {AUGMENTATIONS[kind][0]:g} to {AUGMENTATIONS[kind][1]:g}" for kind in kinds)
    kind, _, value = str(text).partition(" ")
    low, high = AUGMENTATIONS[kind] if kind in kinds else (1.0, 0.0)
    try:
        valid = low <= float(value) <= high
    except ValueError:
        valid = False
    if not valid:
        raise ParamError(key, f"got {text!r}; allowed: a kind and a value, {allowed}")
    return str(text)


@dataclass(frozen=True)
class AugmentParams:
    """``features.augment``: perturbed copies of every file that the model trains on beside the training speakers'
    own (ser.features.augment), each copy of a speaker a pseudo-speaker of its own."""

    copies: tuple[str, ...] = ()  # e.g. ("noise 15",): each a kind of AUGMENTATIONS and its value
    seed: int = 0

    def __post_init__(self):
        copies = (self.copies,) if isinstance(self.copies, str) else self.copies
        if not isinstance(copies, (list, tuple)) or len(set(map(str, copies))) != len(copies):
            raise ParamError("features.augment.copies", f"got {self.copies!r}; allowed: a list of distinct copies")
        for copy in copies:
            _perturbation("features.augment.copies", copy, AUGMENTATIONS)
        object.__setattr__(self, "copies", tuple(copies))
        _integer("features.augment.seed", self.seed, low=0)


@dataclass(frozen=True)
class FeatureParams:
    """The per-file feature vector: statistics over frames of each feature family."""

    families: tuple[str, ...] = ("whisper",)
    stats: tuple[str, ...] = FEATURE_STATS
    n_mfcc: int = 40
    n_chroma: int = 12
    n_mels: int = 128
    n_fft: int = 2048
    hop_length: int = 512
    workers: int = 0
    executor: str = "local"
    scheduler: str | None = None
    whisper: WhisperParams = field(default_factory=WhisperParams)
    augment: AugmentParams = field(default_factory=AugmentParams)

    def __post_init__(self):
        object.__setattr__(self, "families", _names("features.families", self.families, FEATURE_FAMILIES))
        object.__setattr__(self, "whisper", _subsection("features.whisper", self.whisper, WhisperParams))
        object.__setattr__(self, "augment", _subsection("features.augment", self.augment, AugmentParams))
        object.__setattr__(self, "stats", _names("features.stats", self.stats, FEATURE_STATS))
        # upper bounds: filter banks and frames that fit in memory (a bundle's model.json carries these too)
        _integer("features.n_mels", self.n_mels, low=1, high=1024)
        _integer("features.n_mfcc", self.n_mfcc, low=1)
        if self.n_mfcc > self.n_mels:
            raise ParamError("features.n_mfcc", f"got {self.n_mfcc}; allowed: at most features.n_mels ({self.n_mels})")
        _integer("features.n_chroma", self.n_chroma, low=1, high=120)
        _integer("features.n_fft", self.n_fft, low=16, high=65536)
        _integer("features.hop_length", self.hop_length, low=1)
        _integer("features.workers", self.workers, low=0)
        _choice("features.executor", self.executor, ("local", "dask"))
        if self.executor == "dask" and not (isinstance(self.scheduler, str) and "://" in self.scheduler):
            raise ParamError(
                "features.scheduler",
                f"got {self.scheduler!r}; allowed with executor dask: a scheduler address such as tcp://10.0.0.5:8786",
            )

    @property
    def min_samples(self) -> int:
        """Shortest signal that fills one analysis frame."""
        return self.n_fft

    def definition(self) -> dict:
        """The params that decide the feature values: all but :data:`FEATURE_EXECUTION_KEYS` (and ``whisper``
        unless that family is selected); ``augment`` decides which copies are made, not a file's values."""
        unused = FEATURE_EXECUTION_KEYS + ("augment",) + (() if "whisper" in self.families else ("whisper",))
        return {k: v for k, v in asdict(self).items() if k not in unused}


@dataclass(frozen=True)
class SplitParams:
    """How files are divided into train and test sets."""

    by: str = "speaker"
    test_size: float = 0.3
    seed: int = 5
    test_speakers: tuple[str, ...] = ()

    def __post_init__(self):
        _choice("split.by", self.by, ("speaker", "random"))
        _number("split.test_size", self.test_size, low=0, high=1, low_open=True, high_open=True)
        _integer("split.seed", self.seed, low=0)
        speakers = self.test_speakers or ()
        if isinstance(speakers, (str, int)):
            speakers = (speakers,)
        if any(isinstance(s, bool) or not isinstance(s, (str, int)) for s in speakers):
            raise ParamError("split.test_speakers", f"got {self.test_speakers!r}; allowed: a list of speaker ids")
        object.__setattr__(self, "test_speakers", tuple(_speaker_id(s) for s in speakers))


def _speaker_id(value: str | int) -> str:
    """Speaker ids compare as the strings in file names; ``1`` means ``"01"``."""
    return f"{value:02d}" if isinstance(value, int) else str(value)


def _subsection(key: str, value: Any, cls: type):
    """A nested mapping of params (``train.svm``) as its validated dataclass."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ParamError(
            key, f"got {value!r}; allowed: a mapping with keys {', '.join(f.name for f in dataclasses.fields(cls))}"
        )
    known = [f.name for f in dataclasses.fields(cls)]
    for name in value:
        if name not in known:
            raise ParamError(f"{key}.{name}", f"unknown key; allowed keys in {key}: {', '.join(known)}")
    return cls(**value)


@dataclass(frozen=True)
class SvmParams:
    """``train.svm``: scikit-learn's SVC with an RBF kernel."""

    C: float = 1.0
    gamma: str | float = "scale"

    def __post_init__(self):
        _number("train.svm.C", self.C, low=0, low_open=True)
        if self.gamma not in ("scale", "auto"):
            if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or self.gamma <= 0:
                raise ParamError("train.svm.gamma", f"got {self.gamma!r}; allowed: scale, auto or a number in (0, inf]")


@dataclass(frozen=True)
class LogregParams:
    """``train.logreg``: scikit-learn's multinomial LogisticRegression (L2)."""

    C: float = 0.01
    max_iter: int = 1000

    def __post_init__(self):
        _number("train.logreg.C", self.C, low=0, low_open=True)
        _integer("train.logreg.max_iter", self.max_iter, low=1)


@dataclass(frozen=True)
class TrainParams:
    """The model: optional per-speaker normalisation and standardisation, then the classifier."""

    alpha: float = 3.0
    batch_size: int = 128
    hidden_layer_sizes: tuple[int, ...] = (64,)
    learning_rate: str = "adaptive"
    max_iter: int = 200
    solver: str = "adam"
    seed: int = 5
    scale: bool = True
    model: str = "mlp"
    calibrate: bool = True
    calibrate_per_mode: bool = False
    ensemble: int = 5
    blocks: str = "equal"
    normalize: str = "speaker"
    svm: SvmParams = field(default_factory=SvmParams)
    logreg: LogregParams = field(default_factory=LogregParams)

    def __post_init__(self):
        _choice("train.model", self.model, MODELS)
        _boolean("train.calibrate", self.calibrate)
        _boolean("train.calibrate_per_mode", self.calibrate_per_mode)
        _integer("train.ensemble", self.ensemble, low=1)
        _choice("train.blocks", self.blocks, BLOCK_WEIGHTINGS)
        _choice("train.normalize", self.normalize, NORMALIZATIONS)
        object.__setattr__(self, "svm", _subsection("train.svm", self.svm, SvmParams))
        object.__setattr__(self, "logreg", _subsection("train.logreg", self.logreg, LogregParams))
        _number("train.alpha", self.alpha, low=0)
        _integer("train.batch_size", self.batch_size, low=1)
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, int):
            sizes = (sizes,)
        largest, most = 4096, 10  # a 3,072 x 4,096 layer and its optimiser state take about 0.4 GB per network
        if not 0 < len(sizes) <= most or any(
            isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= largest for s in sizes
        ):
            raise ParamError(
                "train.hidden_layer_sizes",
                f"got {self.hidden_layer_sizes!r}; allowed: a list of 1 to {most} integers from 1 to {largest:,}",
            )
        object.__setattr__(self, "hidden_layer_sizes", tuple(sizes))
        _choice("train.learning_rate", self.learning_rate, ("constant", "invscaling", "adaptive"))
        _integer("train.max_iter", self.max_iter, low=1)
        _choice("train.solver", self.solver, ("adam", "sgd", "lbfgs"))
        _integer("train.seed", self.seed, low=0)
        _boolean("train.scale", self.scale)


@dataclass(frozen=True)
class EvaluateParams:
    """Cross-validation on the whole selected data."""

    cv_folds: int = 5
    cv_by: str = "speaker"

    def __post_init__(self):
        _integer("evaluate.cv_folds", self.cv_folds, low=2)
        _choice("evaluate.cv_by", self.cv_by, ("speaker", "random"))


def _seconds_range(key: str, value: Any, *, low: float) -> tuple[float, float]:
    """A ``[shortest, longest]`` pair of seconds, ``low <= shortest <= longest``."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
        or not low <= value[0] <= value[1]
    ):
        raise ParamError(key, f"got {value!r}; allowed: [shortest, longest] in seconds, {low:g} <= shortest <= longest")
    return float(value[0]), float(value[1])


@dataclass(frozen=True)
class TimelineEvalParams:
    """``timeline.eval``: the long recordings the timeline stage builds from the test split's speakers, and their
    scoring (ser.timeline.recordings, ser.timeline.scoring)."""

    recordings: int = 8  # how many, each of one test speaker (in turn)
    seconds: float = 30  # length of each
    seed: int = 0
    episode_seconds: tuple[float, float] = (3.0, 8.0)  # an episode: clips of one emotion, at least this long
    gap_seconds: tuple[float, float] = (0.5, 3.0)  # non-speech between episodes (and before the first)
    pause_seconds: tuple[float, float] = (0.05, 0.25)  # between the clips of an episode (labelled as the episode)
    noise_dbfs: float = -60  # RMS level of the noise under the whole recording
    channel: str | None = None  # e.g. "phone 3400": what every recording then passes through (EVAL_CHANNELS)
    collar: float = 0.25  # seconds either side of each truth boundary left unscored

    def __post_init__(self):
        _integer("timeline.eval.recordings", self.recordings, low=1)
        _number("timeline.eval.seconds", self.seconds, low=0, low_open=True)
        _integer("timeline.eval.seed", self.seed, low=0)
        for name, low in (("episode_seconds", 0.1), ("gap_seconds", 0.0), ("pause_seconds", 0.0)):
            object.__setattr__(self, name, _seconds_range(f"timeline.eval.{name}", getattr(self, name), low=low))
        _number("timeline.eval.noise_dbfs", self.noise_dbfs, low=-200, high=0)
        if self.channel is not None:
            _perturbation("timeline.eval.channel", self.channel, EVAL_CHANNELS)
        _number("timeline.eval.collar", self.collar, low=0)


@dataclass(frozen=True)
class VadParams:
    """``timeline.vad``: speech detection (ser.timeline.speech)."""

    threshold: float = 0.4  # a 32 ms frame with this speech probability starts speech
    min_silence: float = 0.8  # seconds below it that end speech
    min_speech: float = 0.25  # shorter speech is dropped
    pad: float = 0.2  # seconds added to both sides of each region

    def __post_init__(self):
        _number("timeline.vad.threshold", self.threshold, low=0, high=1, low_open=True)
        for name in ("min_silence", "min_speech", "pad"):
            _number(f"timeline.vad.{name}", getattr(self, name), low=0, high=10)


@dataclass(frozen=True)
class TimelineParams:
    """``timeline``: emotion over time in long recordings (ser.timeline)."""

    window: float = 2.0  # seconds of speech each prediction summarises
    hop: float = 0.5  # seconds between window starts
    smoothing: str = "viterbi"  # of the windows' probabilities over time
    change_penalty: float = 4.0  # viterbi: the cost of a change of emotion (natural log of probability)
    median_seconds: float = 1.0  # median: the filter's length
    uncertain: float = 0.2  # a segment whose mean top probability is lower is labelled uncertain
    max_seconds: float = 14400  # a longer recording is refused from its header
    vad: VadParams = field(default_factory=VadParams)
    eval: TimelineEvalParams = field(default_factory=TimelineEvalParams)

    def __post_init__(self):
        _number("timeline.window", self.window, low=0.1, high=30)
        _number("timeline.hop", self.hop, low=0.01, high=self.window)
        _choice("timeline.smoothing", self.smoothing, SMOOTHINGS)
        _number("timeline.change_penalty", self.change_penalty, low=0)
        _number("timeline.median_seconds", self.median_seconds, low=0.01, high=60)
        _number("timeline.uncertain", self.uncertain, low=0, high=1)
        _number("timeline.max_seconds", self.max_seconds, low=0, low_open=True)
        object.__setattr__(self, "vad", _subsection("timeline.vad", self.vad, VadParams))
        object.__setattr__(self, "eval", _subsection("timeline.eval", self.eval, TimelineEvalParams))


def check_audio_for_features(audio: AudioParams, features: FeatureParams) -> None:
    """The checks across sections, for params.yaml and a bundle alike: the whisper family needs 16000 Hz."""
    if "whisper" in features.families and audio.sample_rate != 16000:
        raise ParamError(
            "audio.sample_rate", f"got {audio.sample_rate}; the whisper feature family needs 16000 (Whisper's own rate)"
        )


@dataclass(frozen=True)
class Params:
    """All of params.yaml, validated."""

    data: DataParams = field(default_factory=DataParams)
    audio: AudioParams = field(default_factory=AudioParams)
    features: FeatureParams = field(default_factory=FeatureParams)
    split: SplitParams = field(default_factory=SplitParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    timeline: TimelineParams = field(default_factory=TimelineParams)

    def __post_init__(self):
        check_audio_for_features(self.audio, self.features)

    @classmethod
    def from_dict(cls, raw: dict) -> Params:
        """Build and validate from a parsed params.yaml; unknown keys are errors."""
        if not isinstance(raw, dict):
            raise ParamError("(top level)", "params.yaml must be a mapping of sections")
        sections = {f.name: f.default_factory for f in dataclasses.fields(cls)}
        built = {}
        for name, section in raw.items():
            if name not in sections:
                raise ParamError(name, f"unknown section; allowed: {', '.join(sections)}")
            section_cls = sections[name]
            if not isinstance(section, dict):
                raise ParamError(name, "must be a mapping of keys")
            known = [f.name for f in dataclasses.fields(section_cls)]
            for key in section:
                if key not in known:
                    raise ParamError(f"{name}.{key}", f"unknown key; allowed keys in {name}: {', '.join(known)}")
            built[name] = section_cls(**section)
        return cls(**built)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParamError("(file)", f"{path} not found; run from the project root or pass --params") from None
    except yaml.YAMLError as error:
        raise ParamError("(file)", f"{path} is not valid YAML: {error}".replace("\n", " ")) from None
    return Params.from_dict(raw)
