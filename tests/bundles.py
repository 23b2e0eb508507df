"""A real model bundle for tests: an MLP trained on the synthetic speech16k corpus in a few seconds.

Its configuration deliberately differs from params.yaml (8 kHz, MFCC and chroma only,
smaller frames) and its feature columns are stored in reverse order, so a predictor
that used params.yaml or ignored the stored column order would fail the tests.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ser.config import AudioParams, DataParams, FeatureParams, Params, TrainParams
from ser.corpus.audio import load_audio
from ser.features.extractor import FeatureExtractor
from ser.files import sha256_of
from ser.inference.bundle import (
    INFO_FILE,
    MODEL_FILE,
    ModelRecord,
    copy_bundle,
    load_bundle,
    read_info,
    save_bundle,
    write_info,
)
from ser.inference.card import model_card
from ser.modeling.model import build_model, fit_model

SAMPLE_RATE = 8000
FEATURES = FeatureParams(families=("mfcc", "chroma"), stats=("mean",), n_mfcc=20, n_mels=40, n_fft=512, hop_length=128)
EMOTIONS = {"01": "neutral", "05": "angry", "08": "surprised"}  # RAVDESS codes
TRAIN_ACTORS = ("01", "02", "03", "04")


def training_files(speech16k: Path) -> list[Path]:
    return sorted(
        p
        for actor in TRAIN_ACTORS
        for p in (speech16k / f"Actor_{actor}").glob("*.wav")
        if p.name.split("-")[2] in EMOTIONS
    )


def training_table(X, columns, speakers, digests=None) -> pd.DataFrame:
    """Training rows as the train stage reads them from the features table: the features, ``speaker`` and
    ``sha256`` (each file's digest; made up when not given)."""
    table = pd.DataFrame(X, columns=list(columns))
    table["speaker"] = list(speakers)
    table["sha256"] = digests if digests is not None else [f"{row:064x}" for row in range(len(table))]
    return table


def record_of(model, X, columns, speakers, params: Params | None = None) -> ModelRecord:
    """The record the train stage writes for ``model`` fitted on ``X`` (default params: :func:`bundle_params`)."""
    return ModelRecord.from_training(model, params or bundle_params(), training_table(X, columns, speakers), columns)


def bundle_params(
    features: FeatureParams = FEATURES, sample_rate: int = SAMPLE_RATE, source: str = "demo", **train
) -> Params:
    """params.yaml's sections for a test bundle: ``features`` at ``sample_rate``, train params ``train``."""
    return Params(
        data=DataParams(source=source, emotions="all"),
        audio=AudioParams(sample_rate=sample_rate),
        features=features,
        train=TrainParams(**train),
    )


def train_bundle(speech16k: Path, directory: Path, normalize: str = "none", calibrate_per_mode: bool = False) -> Path:
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
    # one calibrated MLP, lightly penalised: the 48 kHz test's tolerance was measured on this model
    params = bundle_params(
        source=str(speech16k),
        model="mlp",
        normalize=normalize,
        hidden_layer_sizes=(32,),
        max_iter=300,
        alpha=0.1,
        ensemble=1,
        calibrate=True,
        calibrate_per_mode=calibrate_per_mode,
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a deliberately small network
        model = fit_model(build_model(params.train, columns), X, y, speakers, normalize)
    table = training_table(X, columns, speakers, [sha256_of(path) for path in files])
    save_bundle(directory, model, ModelRecord.from_training(model, params, table, columns))
    return directory


# Metrics as the bundle stage adds them (the numbers only need to be told apart)
TEST_METRICS = {
    "accuracy": 0.75,
    "uar": 0.7,
    "f1_macro": 0.69,
    "ece": 0.05,
    "log_loss": 0.6,
    "roc_auc_macro": 0.9,
    "average_precision_macro": 0.8,
    "test_files": 40,
    "uar_one_clip": 0.65,
    "ece_one_clip": 0.07,
    "test_speakers": ["05", "06"],
}
CROSSVAL = {
    "folds": 4,
    "by": "speaker",
    **{
        f"{key}_{end}": value
        for key in ("accuracy", "uar", "f1_macro", "uar_one_clip")
        for end, value in (("mean", 0.6), ("std", 0.1))
    },
}


def complete_bundle(trained: Path, out: Path, demo: bool) -> Path:
    """The trained bundle as the bundle stage completes it (metrics, card), its corpus the demo one if ``demo``."""
    _, record = load_bundle(trained)
    data = replace(record.data, source="demo", demo=None) if demo else record.data
    per_class = {c: {"recall": 0.7, "precision": 0.7, "support": 10} for c in record.classes}
    record = replace(
        record,
        data=replace(data, corpus_files=record.data.train_files + TEST_METRICS["test_files"]),
        estimator="StandardScaler -> TemperatureScaled",
        metrics={"test": {**TEST_METRICS, "per_class": per_class}, "crossval": CROSSVAL},
    )
    copy_bundle(trained, out, record, model_card(record))
    return out


def rewrite_info(folder: Path, edit) -> None:
    """Apply ``edit`` to the bundle's model.json content and store it with a recomputed digest, as a deliberate
    editor would."""
    info = read_info(folder)
    edit(info)
    write_info(folder, info)


def pad_info(folder: Path, size: int) -> None:
    """Grow the bundle's model.json to ``size`` bytes with a long string under a new key, its digest left stale."""
    path = folder / INFO_FILE
    head = path.read_bytes().rstrip().removesuffix(b"}") + b', "padding": "'
    with open(path, "wb") as out:
        out.write(head)
        for start in range(len(head), size - 2, 1 << 24):
            out.write(b" " * min(1 << 24, size - 2 - start))
        out.write(b'"}')


def replace_schema(folder: Path, schema: bytes) -> None:
    """Replace skops' schema.json inside the bundle's model.skops by ``schema`` (deflated), and record the new
    file's digest as a deliberate attacker would."""
    path = folder / MODEL_FILE
    with zipfile.ZipFile(path) as archive:
        entries = [(entry, archive.read(entry)) for entry in archive.infolist() if entry.filename != "schema.json"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", schema)
        for entry, data in entries:
            archive.writestr(entry, data)
    rewrite_info(folder, lambda info: info.update(model_sha256=sha256_of(path)))


def nested_json(depth: int) -> bytes:
    """A JSON list nested ``depth`` deep."""
    return b"[" * depth + b"]" * depth
