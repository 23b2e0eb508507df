"""A real model bundle for tests: an MLP trained on the synthetic speech16k corpus in a few seconds.

Its configuration deliberately differs from params.yaml (8 kHz, MFCC and chroma only,
smaller frames) and its feature columns are stored in reverse order, so a predictor
that used params.yaml or ignored the stored column order would fail the tests.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ser.corpus.audio import load_audio
from ser.inference.bundle import save_bundle
from ser.config import FeatureParams, TrainParams
from ser.features.extractor import FeatureExtractor
from ser.modeling.model import build_model, fit_model
from ser.modeling.normalize import normalize as normalize_features, reference_statistics

SAMPLE_RATE = 8000
FEATURES = FeatureParams(families=("mfcc", "chroma"), stats=("mean",), n_mfcc=20, n_mels=40, n_fft=512, hop_length=128)
EMOTIONS = {"01": "neutral", "05": "angry", "08": "surprised"}  # RAVDESS codes
TRAIN_ACTORS = ("01", "02", "03", "04")


def training_files(speech16k: Path) -> list[Path]:
    return sorted(p for actor in TRAIN_ACTORS for p in (speech16k / f"Actor_{actor}").glob("*.wav")
                  if p.name.split("-")[2] in EMOTIONS)


def train_bundle(speech16k: Path, directory: Path, normalize: str = "none") -> Path:
    """Train on actors 01-04 (neutral, angry, surprised) and save a bundle into ``directory``.

    ``normalize="speaker"`` standardises each actor's features by that actor's statistics
    first and stores the training speakers' average, as the train stage does.
    """
    files = training_files(speech16k)
    extractor = FeatureExtractor(FEATURES, SAMPLE_RATE)
    columns = extractor.names[::-1]
    X = np.array([extractor(load_audio(p, SAMPLE_RATE, min_samples=FEATURES.min_samples)) for p in files])[:, ::-1]
    y = np.array([EMOTIONS[p.name.split("-")[2]] for p in files])
    speakers = [p.name.split("-")[6].removesuffix(".wav") for p in files]
    reference = [statistic.tolist() for statistic in reference_statistics(X, speakers)]
    X = normalize_features(X, speakers, normalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a deliberately small network
        # one calibrated MLP, lightly penalised: the 48 kHz test's tolerance was measured on this model
        model = fit_model(build_model(TrainParams(model="mlp", normalize="none", hidden_layer_sizes=(32,), max_iter=300,
                                                  alpha=0.1, ensemble=1, calibrate=True, seed=0), columns),
                          X, y, speakers)
    info = {
        "classes": [str(c) for c in model.classes_],
        "feature_columns": columns,
        "audio": {"sample_rate": SAMPLE_RATE},
        "features": {k: v for k, v in asdict(FEATURES).items() if k != "workers"},
        "data": {"source": str(speech16k), "dataset": "ravdess", "train_files": len(files),
                 "train_speakers": list(TRAIN_ACTORS)},
        "versions": {},
        "normalize": normalize,
    }
    if normalize == "speaker":
        info["speaker_reference"] = dict(zip(("mean", "std"), reference))
    save_bundle(directory, model, info)
    return directory
