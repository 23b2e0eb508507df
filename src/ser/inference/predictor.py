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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ser.corpus.audio import AudioError, load_audio
from ser.errors import SerError
from ser.inference.bundle import BundleError, load_bundle, speaker_reference
from ser.inference.inputs import Failure


@dataclass(frozen=True)
class Prediction:
    """The predicted emotion of one file and the probability of every class."""

    path: str
    emotion: str
    probabilities: dict[str, float]


class Predictor:
    """A loaded bundle and the feature extractor its ``model.json`` describes."""

    def __init__(self, model_dir: str | Path):
        from sklearn.exceptions import InconsistentVersionWarning

        with warnings.catch_warnings():  # version_warning says it in one line instead
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            self.model, self.info = load_bundle(model_dir)
        self.classes: list[str] = list(self.info["classes"])
        self.extractor, self.order = _extractor_for(self.info, Path(model_dir) / "model.json")

    @property
    def sample_rate(self) -> int:
        return self.extractor.sample_rate

    def features(self, path: str | Path) -> np.ndarray:
        """The file's feature vector, in the model's column order; raises :class:`AudioError`."""
        samples = load_audio(path, self.sample_rate, min_samples=self.extractor.params.min_samples)
        return self.extractor(samples)[self.order]

    def predict(self, path: str | Path) -> Prediction:
        """Predict one file; raises :class:`AudioError` for a file that is not usable audio."""
        row = self.features(path)[np.newaxis, :]
        probabilities = self.model.predict_proba(row)[0]
        emotion = str(self.model.predict(row)[0])
        return Prediction(str(path), emotion, {c: float(p) for c, p in zip(self.classes, probabilities)})

    def predict_or_fail(self, path: str) -> Prediction | Failure:
        try:
            return self.predict(path)
        except AudioError as error:
            return Failure(path, str(error))

    def predict_files(self, paths: list[str], speaker: str | None = None,
                      warn: Callable[[str], None] | None = None) -> Iterator[Prediction | Failure]:
        """Results in the order of ``paths``, as the model expects them: all files first, each speaker's
        standardised together (:meth:`predict_by_speaker`), when it normalises per speaker; else each
        file as it is predicted (``speaker`` then plays no part)."""
        if self.normalization == "speaker":
            return iter(self.predict_by_speaker(paths, speaker, warn=warn))
        return (self.predict_or_fail(path) for path in paths)

    @property
    def normalization(self) -> str:
        """``speaker`` when the model expects each speaker's features standardised by that speaker's statistics."""
        return self.info.get("normalize", "none")

    def speaker_of(self, path: str) -> str | None:
        """The speaker id in the file's name by the naming convention of the model's corpus, or None."""
        from ser.corpus.conventions import CONVENTIONS, Convention

        convention = CONVENTIONS.get(self.info.get("data", {}).get("dataset"))
        if not isinstance(convention, Convention):  # a manifest corpus: names carry no speaker
            return None
        try:
            return convention.parse(Path(path))["speaker"]
        except SerError:
            return None

    def predict_by_speaker(self, paths: list[str], speaker: str | None = None,
                           warn: Callable[[str], None] | None = None) -> list[Prediction | Failure]:
        """Predict files together, each speaker's features standardised with that speaker's statistics.

        The model was trained that way (``normalize: speaker`` in ``model.json``), so a file's
        speaker's other recordings supply the statistics. The speaker is ``speaker`` for every
        file if given, else read from each file's name; a file whose name tells no speaker is
        a speaker of its own. A speaker with fewer than ``SHRINK_BELOW`` recordings has their
        statistics shrunk toward the training speakers' average (``speaker_reference`` in
        ``model.json``), and ``warn`` is told, since accuracy is then lower.
        """
        from ser.modeling.normalize import SHRINK_BELOW, normalize_new_speakers

        results: dict[str, Prediction | Failure] = {}
        rows, kept, speakers, unnamed = [], [], [], []
        for path in paths:
            try:
                rows.append(self.features(path))
            except AudioError as error:
                results[path] = Failure(path, str(error))
                continue
            who = speaker if speaker is not None else self.speaker_of(path)
            if who is None:
                who = path  # a speaker of its own
                unnamed.append(path)
            kept.append(path)
            speakers.append(who)
        if warn and unnamed:
            warn(f"warning: {len(unnamed)} file(s) have no speaker id in their names (e.g. {unnamed[0]}); each is "
                 "treated as a speaker of its own: give --speaker ID when files share a speaker")
        if kept:
            alone = set(unnamed)
            counts = Counter(who for who, path in zip(speakers, kept) if path not in alone)
            few = sorted(who for who, count in counts.items() if count < SHRINK_BELOW)
            if warn and few:
                warn(f"warning: fewer than {SHRINK_BELOW} recordings of speaker(s) {', '.join(few)}: their statistics "
                     "are shrunk toward the training speakers' average; accuracy is lower than with a speaker's "
                     "full set of recordings")
            X = normalize_new_speakers(np.vstack(rows), speakers, self.speaker_reference)
            probabilities = self.model.predict_proba(X)
            emotions = self.model.predict(X)
            for row, path in enumerate(kept):
                results[path] = Prediction(path, str(emotions[row]),
                                           {c: float(p) for c, p in zip(self.classes, probabilities[row])})
        return [results[path] for path in paths]

    @property
    def speaker_reference(self) -> tuple[np.ndarray, np.ndarray]:
        """The training speakers' average statistics stored by the train stage."""
        return speaker_reference(self.info)


def _extractor_for(info: dict, info_path: Path):
    """The extractor for the bundle's audio and feature params, and the index putting its output in column order."""
    from ser.config import FEATURE_EXECUTION_KEYS, FeatureParams, ParamError
    from ser.features.extractor import FeatureExtractor

    try:
        stored = {k: v for k, v in info["features"].items() if k not in FEATURE_EXECUTION_KEYS}
        sample_rate = info["audio"]["sample_rate"]
        columns = list(info["feature_columns"])
        params = FeatureParams(**stored)
    except (KeyError, TypeError, AttributeError) as error:
        raise BundleError(f"{info_path} lacks or mis-states the feature configuration ({type(error).__name__}: "
                          f"{error}); it may come from another version of ser: retrain with dvc repro") from None
    except ParamError as error:
        problem = str(error).removeprefix("params.yaml: ")
        raise BundleError(f"{info_path}: {problem}; retrain with dvc repro") from None
    if "whisper" in params.families:
        _check_weights(info, params.whisper, info_path)
    extractor = FeatureExtractor(params, sample_rate)
    index = {name: i for i, name in enumerate(extractor.names)}
    missing = [c for c in columns if c not in index]
    if missing:
        raise BundleError(f"{info_path} expects features this version of ser does not compute ({missing[:3]}...); "
                          "retrain with dvc repro")
    return extractor, np.array([index[c] for c in columns])


def _check_weights(info: dict, whisper_params, info_path: Path) -> None:
    """Refuse encoder weights, or encoder layers, other than those the model was trained on (its features would
    mean something else): the base weights' digest, the set of layers and each layer's derived model."""
    from ser.features.weights import layer_digests, resolve_model

    trained = info.get("weights", {}).get("whisper", {})
    folder, found = resolve_model(whisper_params.model)
    if trained.get("sha256") != found:
        raise BundleError(f"{info_path}: the model was trained on whisper weights with sha256 {trained.get('sha256')}, "
                          f"but features.whisper.model {whisper_params.model!r} has sha256 {found}; give the weights it "
                          "was trained with, or retrain with dvc repro")
    derived = layer_digests(folder, whisper_params.layers)
    recorded = trained.get("layers", {})
    if sorted(derived, key=int) != sorted(recorded, key=int):
        raise BundleError(f"{info_path}: the model was trained on whisper layers {sorted(recorded, key=int)}, but its "
                          f"features ask for layers {sorted(derived, key=int)}; the bundle is inconsistent: retrain "
                          "with dvc repro")
    changed = sorted((layer for layer in derived if derived[layer] != recorded[layer]), key=int)
    if changed:
        raise BundleError(f"{info_path}: whisper layer(s) {', '.join(changed)} derived here differ from those the "
                          "model was trained on (another version of ser?); retrain with dvc repro")


def version_warning(info: dict) -> str | None:
    """A one-line warning when the running scikit-learn differs from the one that trained the model."""
    import sklearn

    trained = info.get("versions", {}).get("scikit-learn")
    if trained and trained != sklearn.__version__:
        return (f"warning: the model was trained with scikit-learn {trained}, this is {sklearn.__version__}; "
                "if predictions look wrong, retrain with dvc repro")
    return None

