"""Predict the emotion of new recordings with a model bundle.

Features are computed with exactly the configuration stored in the bundle's
``model.json`` (sample rate, feature params, column order), never with the
current ``params.yaml``, so editing the params cannot skew a trained model's
predictions. This module is the hot path of ``ser predict``: it imports only
what predicting needs (no pandas of its own, no matplotlib, no DVC).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ser.corpus.audio import AudioError, load_audio
from ser.errors import SerError
from ser.features.extractor import NOT_FINITE
from ser.inference.bundle import BundleError, ModelRecord, load_for_prediction
from ser.inference.inputs import PYTHON_API, Arguments, Failure

if TYPE_CHECKING:
    from ser.timeline.runtime import Timeline


@dataclass(frozen=True)
class Prediction:
    """The predicted emotion of one file and the probability of every class.

    Attributes
    ----------
    file : str
        The path as it was given to :meth:`Predictor.predict`.
    emotion : str
        The class of highest probability.
    probabilities : dict[str, float]
        Each class of the model, in the bundle's order, and its probability; they sum to 1.
    """

    file: str
    emotion: str
    probabilities: dict[str, float]

    @property
    def ok(self) -> bool:
        """True: this file was predicted (a :class:`~ser.inference.inputs.Failure`'s ``ok`` is False)."""
        return True

    def as_dict(self, digits: int | None = None) -> dict:
        """The record ``ser predict --format json`` prints and the HTTP API returns.

        Parameters
        ----------
        digits : int or None
            Round each probability to this many decimals; None keeps them whole.

        Returns
        -------
        dict
            ``{"file": str, "emotion": str, "probabilities": {class: float}}``.
        """
        rounded = {c: (round(p, digits) if digits is not None else p) for c, p in self.probabilities.items()}
        return {"file": self.file, "emotion": self.emotion, "probabilities": rounded}


class Predictor:
    """A loaded bundle and the feature extractor its ``model.json`` describes (``ser.load`` returns one): ``model``,
    its :class:`~ser.inference.bundle.ModelRecord` ``record``, and its ``classes``.

    Parameters
    ----------
    model_dir : str or Path
        The bundle's folder (``model.skops``, ``model.json``).
    max_seconds : float or None
        The longest recording accepted, read from its header before decoding; a longer one fails with a
        :class:`Failure`. None: the bundle's ``audio.max_seconds``.
    arguments : ser.inference.inputs.Arguments
        How messages name what the caller can change: the Python API's arguments (``speaker=ID``), or
        ``ser``'s options (``--speaker ID``) for the command line.

    Attributes
    ----------
    model : ser.modeling.forward.Forward or ser.modeling.calibration.Calibrated
        The fitted model, its ``predict_proba(X, mode)`` scikit-learn's: read as arrays without scikit-learn, or
        (a model those do not compute) loaded by skops; either only with the types the bundle is allowed to hold
        (:func:`ser.inference.bundle.load_for_prediction`).
    record : ser.inference.bundle.ModelRecord
        The bundle's ``model.json``, validated.
    classes : list of str
        The emotions the model tells apart, in the order of its probabilities.
    extractor : ser.features.extractor.FeatureExtractor
        Configured from ``model.json``, never from ``params.yaml``.
    directory : Path
        The bundle's folder.

    Raises
    ------
    ser.inference.bundle.BundleError
        The bundle is missing, damaged, untrusted, or records features this version of ser does not compute.
    """

    def __init__(self, model_dir: str | Path, max_seconds: float | None = None, arguments: Arguments = PYTHON_API):
        self.arguments = arguments
        self.model, self.record = load_for_prediction(model_dir, arguments.model)
        self.directory = Path(model_dir)
        self.classes: list[str] = list(self.record.classes)
        self.extractor, self.order = _extractor_for(self.record, Path(model_dir) / "model.json")
        self.max_seconds = max_seconds or self.record.audio.max_seconds

    @property
    def sample_rate(self) -> int:
        """The rate in Hz every file is decoded to before its features are computed, as the model was trained."""
        return self.extractor.sample_rate

    def features(self, path: str | Path) -> np.ndarray:
        """The feature vector of one file, in the model's column order, before any normalisation.

        Parameters
        ----------
        path : str or Path
            An audio file of any format libsndfile reads.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_features,)``, float64, one value per ``feature_columns`` entry of ``model.json``.
            :meth:`predict` normalises such rows as the bundle says before the model sees them.

        Raises
        ------
        ser.corpus.audio.AudioError
            The file cannot be used (missing, not audio, silent, too short or longer than ``max_seconds``).
        """
        samples = load_audio(
            path,
            self.sample_rate,
            min_samples=self.extractor.params.min_samples,
            max_seconds=self.max_seconds,
            limit=self.arguments.max_seconds,
        )
        _check_speech(samples, self.sample_rate)
        vector = self.extractor(samples)[self.order]
        if not np.isfinite(vector).all():
            raise AudioError(NOT_FINITE)
        return vector

    @cached_property
    def timeline_model(self) -> Predictor:
        """The model the timeline labels windows of speech with: the bundle's own timeline model (trained on
        windows, in its ``timeline`` folder), loaded on first use, or this model when the bundle has none.

        Raises
        ------
        ser.inference.bundle.BundleError
            The timeline model is damaged or does not fit this model (other classes or features).
        """
        from ser.inference.bundle import TIMELINE_FOLDER, check_timeline_model

        folder = self.directory / TIMELINE_FOLDER
        if not folder.is_dir():
            return self
        model = Predictor(folder, self.max_seconds)
        check_timeline_model(self.record, model.record, folder)
        return model

    def timeline(self, path: str | Path, settings=None, speaker_turns=None) -> Timeline | Failure:
        """The emotion over time of one recording, as ``ser timeline`` gives it (docs/timeline.md), its windows
        labelled by :attr:`timeline_model`.

        Parameters
        ----------
        path : str or pathlib.Path
            An audio file, read in blocks: hours of it take the memory of one block and of its windows.
        settings : ser.config.TimelineParams, optional
            Speech detection, windows, smoothing and the ``uncertain`` threshold; default: the shipped
            ``timeline`` defaults.
        speaker_turns : str, pathlib.Path or list of ser.timeline.turns.Turn, optional
            Who speaks when: an RTTM file (its turns of the recording's name without suffix, or its only file
            id's) or the turns themselves. Each speaker is then standardised by their own speech and every segment
            has a ``speaker``. Default: the recording is one speaker's.

        Returns
        -------
        ser.timeline.runtime.Timeline or Failure
            The recording's duration and its segments of speech (none for a recording without speech), or the
            reason ``ser predict`` would give for a file it cannot use.
        """
        from ser.config import TimelineParams
        from ser.timeline.runtime import SpoolError, timeline_of_file

        settings = settings or TimelineParams()
        try:
            if speaker_turns is not None:
                return self._timeline_of_speakers(str(path), settings, speaker_turns)
            return timeline_of_file(self, str(path), settings)
        except (AudioError, SpoolError) as error:
            return Failure(str(path), str(error))
        except MemoryError:
            return Failure(str(path), "cannot be processed: its features do not fit in memory")

    def _timeline_of_speakers(self, path: str, settings, speaker_turns) -> Timeline:
        """:meth:`timeline` with speaker turns (raises what it turns into a :class:`Failure`)."""
        from ser.timeline.runtime import speaker_timeline_of_file
        from ser.timeline.turns import TurnsError, read_rttm, turns_of

        if isinstance(speaker_turns, (str, Path)):
            try:
                speaker_turns = turns_of(path, read_rttm(speaker_turns), str(speaker_turns), alone=True)
            except TurnsError as error:
                raise AudioError(str(error)) from None
        return speaker_timeline_of_file(self, path, settings, speaker_turns)

    def predict(
        self,
        paths: str | Path | Iterable[str | Path],
        speaker: str | None = None,
        warn: Callable[[str], None] | None = None,
        progress: bool = False,
        enroll: Iterable[str | Path] = (),
    ) -> list[Prediction | Failure]:
        """Predict the emotion of each audio file.

        Features are normalised as the model was trained (``normalize`` in ``model.json``). With ``speaker``
        normalisation each speaker's recordings are standardised together: a speaker with fewer than
        ``SHRINK_BELOW`` recordings, a lone clip included, has their statistics shrunk toward the training
        speakers' average (``speaker_reference`` in ``model.json``). The probabilities are calibrated for the
        way each file was normalised (``calibration`` in ``model.json``: ``together`` or ``alone``).

        Parameters
        ----------
        paths : str, Path or iterable of them
            Audio files (not folders: :func:`ser.inference.inputs.find_inputs` expands those).
        speaker : str or None
            The speaker of every file. None: read from each file's name by the naming convention of the
            model's corpus; a file whose name tells none is a speaker of its own.
        warn : callable or None
            Called with each one-line warning about what lowers accuracy (files without a speaker, speakers
            with few recordings). None: :func:`warnings.warn`.
        progress : bool
            Show a progress bar on stderr, if it is a terminal.
        enroll : iterable of str or Path
            Enrollment recordings: every path and they are taken as one speaker's recordings (``speaker`` and the
            names' speaker ids are then unused), normalised together; they are never predicted. A few recordings
            in the speaker's usual voice raise the accuracy on one clip (docs/predict.md).

        Returns
        -------
        list of Prediction or Failure
            One per path, in the order given: a :class:`Prediction`, or a :class:`Failure` saying why that
            file could not be used. One bad file never stops the others.

        Raises
        ------
        EnrollmentError
            An enrollment recording cannot be used; the message names it and why.
        """
        paths = [str(paths)] if isinstance(paths, (str, Path)) else [str(path) for path in paths]
        if warn is None:

            def warn(message: str) -> None:
                warnings.warn(message.removeprefix("warning: "), stacklevel=4)  # at predict()'s caller

        enrolled = self._enrollment_features(enroll)
        results: dict[str, Failure] = {}
        rows, kept = [], []
        for path in _progress(paths, progress):
            try:
                rows.append(self.features(path))
                kept.append(path)
            except AudioError as error:
                results[path] = Failure(path, str(error))
            except MemoryError:
                results[path] = Failure(path, "cannot be processed: its features do not fit in memory")
            except Exception as error:  # noqa: BLE001 - one file's failure, whatever raises it, is that file's
                results[path] = Failure(path, f"cannot be processed ({type(error).__name__}: {error})")
        if kept:
            X, shrunk = np.vstack(rows), np.zeros(len(rows), dtype=bool)
            if self.normalization == "speaker":
                X, shrunk = self._normalize_by_speaker(X, kept, speaker, warn, enrolled)
            finite = np.isfinite(X).all(axis=1)  # the model's input, row by row: a bad row is its file's failure
            results.update((path, Failure(path, NOT_FINITE)) for path, ok in zip(kept, finite) if not ok)
            X, shrunk, kept = X[finite], shrunk[finite], [path for path, ok in zip(kept, finite) if ok]
        if kept:
            probabilities = self._probabilities(X, shrunk)
            emotions = self.model.classes_[probabilities.argmax(axis=1)]  # predict()'s labels, from these probabilities
            for row, path in enumerate(kept):
                results[path] = Prediction(
                    path, str(emotions[row]), {c: float(p) for c, p in zip(self.classes, probabilities[row])}
                )
        return [results[path] for path in paths]

    @property
    def normalization(self) -> str:
        """``speaker`` when the model expects each speaker's features standardised by that speaker's statistics."""
        return self.record.normalize

    def speaker_of(self, path: str) -> str | None:
        """The speaker id in a file's name, by the naming convention of the model's corpus.

        Parameters
        ----------
        path : str
            A file name or path; only its name is read.

        Returns
        -------
        str or None
            The speaker id; None when the name does not follow the convention or the corpus (a manifest)
            has none.
        """
        from ser.corpus.conventions import CONVENTIONS, Convention

        convention = CONVENTIONS.get(self.record.data.dataset)
        if not isinstance(convention, Convention):  # a manifest corpus: names carry no speaker
            return None
        try:
            return convention.parse(Path(path))["speaker"]
        except SerError:
            return None

    def _enrollment_features(self, paths: Iterable[str | Path]) -> np.ndarray | None:
        """The feature rows of enrollment recordings (:meth:`predict`'s ``enroll``), or None when there are none.

        Raises
        ------
        EnrollmentError
            A recording cannot be used: the one-line message names it, says why and what to do.
        """
        rows = []
        for path in map(str, paths):
            try:
                rows.append(self.features(path))
            except AudioError as error:
                raise EnrollmentError(f"enrollment recording {Failure(path, str(error))}", path) from None
            except MemoryError:
                raise EnrollmentError(
                    f"enrollment recording {path} cannot be processed: its features do not fit in memory; "
                    "give a shorter recording",
                    path,
                ) from None
        return np.vstack(rows) if rows else None

    def _probabilities(self, X: np.ndarray, shrunk: np.ndarray) -> np.ndarray:
        """The model's probabilities for the normalised rows ``X``, each at the temperature of the way it was
        normalised: ``alone`` where ``shrunk`` (a speaker with fewer than ``SHRINK_BELOW`` recordings), else
        ``together``."""
        probabilities = np.empty((len(X), len(self.classes)))
        for mode, rows in (("together", ~shrunk), ("alone", shrunk)):
            if rows.any():
                probabilities[rows] = self.model.predict_proba(X[rows], mode)
        return probabilities

    def _normalize_by_speaker(
        self,
        X: np.ndarray,
        paths: list[str],
        speaker: str | None,
        warn: Callable[[str], None],
        enrolled: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``X`` (one row per path) standardised speaker by speaker, as :meth:`predict` describes, and which rows
        were standardised as a speaker with fewer than ``SHRINK_BELOW`` recordings (their statistics shrunk). The
        ``enrolled`` rows, if any, are more recordings of one speaker shared by every path."""
        from ser.modeling.normalize import SHRINK_BELOW, normalize_new_speakers

        if enrolled is not None:
            return self._normalize_with_enrollment(X, enrolled)
        speakers, unnamed = [], []
        for path in paths:
            who = speaker if speaker is not None else self.speaker_of(path)
            if who is None:
                who = path  # a speaker of its own
                unnamed.append(path)
            speakers.append(who)
        if unnamed:
            warn(
                f"warning: {len(unnamed)} file(s) have no speaker id in their names (e.g. {unnamed[0]}); each is "
                f"treated as a speaker of its own: give {self.arguments.speaker} when files share a speaker"
            )
        alone = set(unnamed)
        counts = Counter(who for who, path in zip(speakers, paths) if path not in alone)
        few = sorted(who for who, count in counts.items() if count < SHRINK_BELOW)
        if few:
            warn(
                f"warning: fewer than {SHRINK_BELOW} recordings of speaker(s) {', '.join(few)}: their statistics "
                "are shrunk toward the training speakers' average; accuracy is lower than with a speaker's "
                "full set of recordings"
            )
        sizes = Counter(speakers)
        shrunk = np.array([sizes[who] < SHRINK_BELOW for who in speakers])
        return normalize_new_speakers(X, speakers, self.speaker_reference), shrunk

    def _normalize_with_enrollment(self, X: np.ndarray, enrolled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X`` standardised as one speaker's recordings together with the rows ``enrolled``, and whether their
        statistics were shrunk (fewer than ``SHRINK_BELOW`` rows in all), as :meth:`_normalize_by_speaker`. No
        warning: enrollment is a few recordings by design."""
        from ser.modeling.normalize import SHRINK_BELOW, new_speaker_statistics

        mean, std = new_speaker_statistics(np.vstack([X, enrolled]), self.speaker_reference)
        return (X - mean) / std, np.full(len(X), len(X) + len(enrolled) < SHRINK_BELOW)

    @property
    def speaker_reference(self) -> tuple[np.ndarray, np.ndarray]:
        """The training speakers' average statistics stored by the train stage.

        Returns
        -------
        tuple of numpy.ndarray
            ``(mean, std)``, each of shape ``(n_features,)``: what a speaker with few recordings is shrunk toward.
        """
        return self.record.speaker_reference.arrays()


class EnrollmentError(SerError, ValueError):
    """An enrollment recording cannot be used; the message names it, and ``file`` is it as given."""

    def __init__(self, message: str, file: str):
        super().__init__(message)
        self.file = file


def _check_speech(samples: np.ndarray, sample_rate: int) -> None:
    """Refuse a recording in which the speech detector finds no speech (a tone, noise, music): an emotion for it
    would mean nothing."""
    from ser.config import VadParams
    from ser.timeline.speech import NO_SPEECH, SAMPLE_RATE, has_speech

    if sample_rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE)
    if not has_speech(samples, VadParams()):
        raise AudioError(NO_SPEECH)


def _progress(paths: list[str], shown: bool):
    """``paths``, with a progress bar on stderr when ``shown`` and stderr is a terminal."""
    if not shown or len(paths) < 2:
        return paths
    from ser.progress import progress_bar

    return progress_bar(paths, desc="predict")


def _extractor_for(record: ModelRecord, info_path: Path):
    """The extractor for the bundle's audio and feature params, and the index putting its output in column order."""
    from ser.features.extractor import FeatureExtractor

    if "whisper" in record.features.families:
        _check_weights(record, info_path)
    extractor = FeatureExtractor(record.features, record.audio.sample_rate)
    index = {name: i for i, name in enumerate(extractor.names)}
    missing = [c for c in record.feature_columns if c not in index]
    if missing:
        raise BundleError(
            f"{info_path} expects features this version of ser does not compute ({missing[:3]}...); "
            "retrain with dvc repro"
        )
    return extractor, np.array([index[c] for c in record.feature_columns])


def _check_weights(record: ModelRecord, info_path: Path) -> None:
    """Refuse encoder weights, or an encoder graph, other than those the model was trained on (its features would
    mean something else): the weights' digest, and that of the graph built from them for the bundle's layers."""
    from ser.features.encoder import graph_digest
    from ser.features.weights import resolve_model

    trained, whisper_params = record.whisper_weights, record.features.whisper
    folder, found = resolve_model(whisper_params.model)
    if trained.sha256 != found:
        raise BundleError(
            f"{info_path}: the model was trained on whisper weights with sha256 {trained.sha256}, "
            f"but features.whisper.model {whisper_params.model!r} has sha256 {found}; give the weights it "
            "was trained with, or retrain with dvc repro"
        )
    if graph_digest(folder, whisper_params.layers, whisper_params.compute_type) != trained.graph:
        raise BundleError(
            f"{info_path}: the encoder graph built here for whisper layers {list(whisper_params.layers)} differs "
            f"from the one the model was trained on ({trained.runtime}; another version of ser?); retrain "
            "with dvc repro"
        )


def version_warning(record: ModelRecord) -> str | None:
    """A one-line warning when the running scikit-learn differs from the one that trained the model."""
    from importlib.metadata import version

    trained, running = record.versions.get("scikit-learn"), version("scikit-learn")
    if trained and trained != running:
        return (
            f"warning: the model was trained with scikit-learn {trained}, this is {running}; "
            "if predictions look wrong, retrain with dvc repro"
        )
    return None
