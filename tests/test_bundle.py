"""The model bundle: every model train can save loads; damaged or tampered bundles are refused."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ser.config import CALIBRATION_MODES, FeatureParams, TrainParams
from ser.corpus.audio import load_audio
from ser.features.extractor import FeatureExtractor
from ser.files import sha256_of
from ser.inference.bundle import (
    INFO_FILE,
    MAX_INFO_BYTES,
    MAX_JSON_DEPTH,
    MAX_MODEL_BYTES,
    MAX_SCHEMA_BYTES,
    MODEL_FILE,
    TRUSTED_TYPES,
    BundleError,
    ModelRecord,
    bundle_types,
    estimator_of,
    load_bundle,
    load_for_prediction,
    read_info,
    save_bundle,
    with_digest,
    write_info,
)
from ser.modeling.calibration import Calibrated, calibrated_probabilities
from ser.modeling.forward import Forward
from ser.modeling.model import build_model, fit_model
from tests.bundles import (
    bundle_params,
    nested_json,
    pad_info,
    record_of,
    replace_schema,
    rewrite_info,
    train_bundle,
    training_table,
)


class Payload:
    """A class of no library: a bundle holding one must never be loaded."""

    def __init__(self):
        self.note = "arbitrary code lives here"


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model")


@pytest.fixture
def copy(bundle, tmp_path) -> Path:
    """A fresh copy of the real bundle to tamper with."""
    return Path(shutil.copytree(bundle, tmp_path / "model"))


def small_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 6))
    y = np.array(["calm", "happy", "sad"] * 20)
    X[y == "happy"] += 1.5
    return X, y


SPEAKERS = np.repeat([f"{i:02d}" for i in range(1, 7)], 10)  # small_data's rows, ten a speaker


@pytest.mark.parametrize("calibrate", [True, False])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_every_model_train_can_save_loads_with_the_trusted_list(tmp_path, scale, solver, calibrate):
    X, y = small_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = TrainParams(
            model="mlp", hidden_layer_sizes=(8,), max_iter=30, solver=solver, scale=scale, calibrate=calibrate
        )
        model = fit_model(build_model(params, COLUMNS), X, y, SPEAKERS, "none")
    assert_saves_and_loads_with_the_trusted_list(tmp_path, model, X)
    assert_predicts_as_scikit_learn(tmp_path / "b", model, X, arrays=True)


# two feature blocks (encoder and handcrafted), so train.blocks equal builds its weighted scaler
COLUMNS = [f"mfcc_mean_{i:02d}" for i in range(3)] + [f"whisper_mean_{i:03d}" for i in range(3)]


@pytest.mark.parametrize(
    "train",
    [{"model": "mlp", "ensemble": 3}, {"model": "mlp", "blocks": "columns"}, {"model": "logreg"}, {"model": "svm"}],
)
def test_fused_blocks_and_seed_ensembles_load_with_the_trusted_list(tmp_path, train):
    X, y = small_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_model(
            build_model(TrainParams(hidden_layer_sizes=(8,), max_iter=30, **train), COLUMNS), X, y, SPEAKERS, "none"
        )
    assert_saves_and_loads_with_the_trusted_list(tmp_path, model, X)
    assert_predicts_as_scikit_learn(tmp_path / "b", model, X, arrays=train["model"] == "mlp")


def assert_saves_and_loads_with_the_trusted_list(tmp_path, model, X):
    save_bundle(tmp_path / "b", model, record_of(model, X, COLUMNS, SPEAKERS))
    assert bundle_types(tmp_path / "b" / MODEL_FILE) <= set(TRUSTED_TYPES)
    loaded, record = load_bundle(tmp_path / "b")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert record.model_sha256 == sha256_of(tmp_path / "b" / MODEL_FILE)
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]  # what the bundle stage records
    assert estimator_of(tmp_path / "b") == " -> ".join(type(step).__name__ for step in steps)


def assert_predicts_as_scikit_learn(folder: Path, model, X: np.ndarray, arrays: bool) -> None:
    """What predicting loads gives ``model``'s probabilities in every calibration mode, to 1e-6, for rows in float64
    and float32: read as arrays (``arrays``: every MLP configuration train makes), else loaded by skops."""
    loaded, record = load_for_prediction(folder)
    assert isinstance(loaded, Forward if arrays else Calibrated)
    assert list(loaded.classes_) == list(model.classes_) and loaded.n_features_in_ == model.n_features_in_
    assert record == load_bundle(folder)[1]
    for rows in (X, X.astype(np.float32)):
        for mode in CALIBRATION_MODES:
            expected = calibrated_probabilities(model, rows, mode)
            np.testing.assert_allclose(loaded.predict_proba(rows, mode), expected, rtol=0, atol=1e-6)


def test_predicting_reads_the_real_bundle_as_arrays(bundle, speech16k):
    model, _ = load_bundle(bundle)
    extractor = FeatureExtractor(load_bundle(bundle)[1].features, 8000)
    files = sorted((speech16k / "Actor_05").glob("*.wav"))[:8]  # speakers the model never heard
    rows = np.array([extractor(load_audio(p, 8000, min_samples=extractor.params.min_samples)) for p in files])
    rows = rows[:, ::-1]  # the bundle's column order (tests/bundles.py)
    assert_predicts_as_scikit_learn(bundle, model, rows, arrays=True)
    assert_predicts_as_scikit_learn(bundle, model, (rows - rows.mean(axis=0)) / rows.std(axis=0), arrays=True)


@pytest.mark.real_speech
def test_predicting_reads_a_default_model_of_real_speech_as_arrays(ravdess16k, tmp_path):
    """The default classifier (five calibrated MLPs) on encoder and MFCC blocks (a weighted scaler per block) of
    real speech: the arrays give scikit-learn's probabilities on actors it never heard."""
    features = FeatureParams(families=("whisper", "mfcc"))
    extractor = FeatureExtractor(features, 16000)
    files = sorted(ravdess16k.glob("Actor_0[1-6]/03-01-0[1-4]-01-01-*.wav"))
    rows = np.array([extractor(load_audio(p, 16000, min_samples=features.min_samples)) for p in files])
    emotions = np.array([p.name.split("-")[2] for p in files])
    speakers = np.array([p.stem.split("-")[6] for p in files])
    train = speakers <= "04"
    params = bundle_params(features=features, sample_rate=16000, source=str(ravdess16k), max_iter=50, normalize="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations do not converge
        model = build_model(params.train, extractor.names)
        model = fit_model(model, rows[train], emotions[train], speakers[train], "none")
    table = training_table(rows[train], extractor.names, speakers[train])
    save_bundle(tmp_path / "b", model, ModelRecord.from_training(model, params, table, extractor.names))
    assert [type(step).__name__ for _, step in model.steps] == ["ColumnTransformer", "TemperatureScaled"]
    assert_predicts_as_scikit_learn(tmp_path / "b", model, rows[~train], arrays=True)


def test_the_real_bundle_loads_and_records_what_predicting_needs(bundle):
    model, record = load_bundle(bundle)
    assert record.classes == ("angry", "neutral", "surprised")
    assert record.audio.sample_rate == 8000 and len(record.feature_columns) == 32 == model.n_features_in_
    assert list(model.classes_) == list(record.classes)
    assert json.loads((bundle / INFO_FILE).read_text()) == with_digest(record.as_dict())  # read back exactly


def refit_with(copy: Path, model) -> None:
    """Replace the bundle's model by ``model``, as someone with write access could."""
    sio.dump(model, copy / MODEL_FILE)


def untrusted_class(copy: Path) -> str:
    model, _ = load_bundle(copy)
    model.steps[-1][1].payload_ = Payload()
    refit_with(copy, model)
    return f"{Payload.__module__}.Payload"


def numpy_function_transformer(copy: Path) -> str:
    X, y = small_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Pipeline(
            [
                ("f", FunctionTransformer(np.exp)),
                ("scale", StandardScaler()),
                (
                    "mlp",
                    build_model(
                        TrainParams(model="mlp", hidden_layer_sizes=(4,), max_iter=5, calibrate=False), COLUMNS
                    )[-1],
                ),
            ]
        ).fit(X, y)
    refit_with(copy, model)
    return "sklearn.preprocessing._function_transformer.FunctionTransformer"


def truncated(copy: Path) -> str:
    data = (copy / MODEL_FILE).read_bytes()
    (copy / MODEL_FILE).write_bytes(data[: len(data) // 2])
    return "not a skops file"


def swapped_for_pickle(copy: Path) -> str:
    marker = copy.parent / "unpickled"
    # Unpickling this would create the marker file: proof that nothing unpickles it.
    (copy / MODEL_FILE).write_bytes(pickle.dumps(MarkerOnUnpickle(str(marker))))
    return "not a skops file"


class MarkerOnUnpickle:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


TAMPERINGS = {
    "untrusted class": untrusted_class,
    "numpy function in a FunctionTransformer": numpy_function_transformer,
    "truncated zip": truncated,
    "pickle instead of skops": swapped_for_pickle,
}


def restamp(copy: Path) -> None:
    """Record the tampered file's hash in model.json, as a deliberate attacker would."""
    info = json.loads((copy / INFO_FILE).read_text())
    info["model_sha256"] = sha256_of(copy / MODEL_FILE)
    write_info(copy, info)  # and model.json's own digest


@pytest.mark.parametrize("load", [load_bundle, load_for_prediction])
@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampered_bundle_is_refused_even_with_a_matching_hash(copy, name, load):
    expected = TAMPERINGS[name](copy)
    restamp(copy)
    with pytest.raises(BundleError) as refused:
        load(copy)
    message = str(refused.value)
    assert expected in message and str(copy / MODEL_FILE) in message and "\n" not in message
    assert not (copy.parent / "unpickled").exists()


@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampered_bundle_is_refused_by_its_hash_first(copy, name):
    TAMPERINGS[name](copy)
    with pytest.raises(BundleError, match="does not match the SHA-256 recorded in model.json"):
        load_bundle(copy)


def test_skops_itself_refuses_the_untrusted_class_with_our_list(copy):
    untrusted_class(copy)
    with pytest.raises(Exception, match="Payload"):
        sio.load(copy / MODEL_FILE, trusted=TRUSTED_TYPES)


def test_numpy_function_is_named_among_the_untrusted_types(copy):
    numpy_function_transformer(copy)
    restamp(copy)
    with pytest.raises(BundleError, match=r"numpy\.exp"):
        load_bundle(copy)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: shutil.rmtree(b), "model bundle {b} not found; train one first (dvc repro) or pass --model DIR"),
        (lambda b: (b / MODEL_FILE).unlink(), "model.skops not found; the bundle is incomplete"),
        (lambda b: (b / INFO_FILE).unlink(), "model.json not found; the bundle is incomplete"),
        (lambda b: (b / INFO_FILE).write_text("{not json"), "model.json is not valid JSON"),
        (lambda b: (b / INFO_FILE).write_text('["angry"]'), "model.json is not a JSON object"),
    ],
)
def test_missing_or_broken_parts_are_named(copy, damage, message):
    damage(copy)
    with pytest.raises(BundleError) as refused:
        load_bundle(copy)
    assert message.format(b=copy) in str(refused.value)


def test_classes_that_disagree_with_the_model_are_refused(copy):
    info = read_info(copy)
    info["classes"] = ["angry", "happy", "surprised"]
    write_info(copy, info)
    with pytest.raises(BundleError, match="predicts classes"):
        load_bundle(copy)


def test_an_edited_or_undigested_model_json_is_refused(copy, speech16k):
    info = read_info(copy)
    edited = {**info, "speaker_reference": {"mean": [0.0], "std": [1.0]}}
    (copy / INFO_FILE).write_text(json.dumps(edited))  # what changed a prediction from calm to disgust
    with pytest.raises(BundleError) as refused:
        load_bundle(copy)
    assert str(refused.value) == (
        f"{copy / INFO_FILE} does not match its SHA-256 (info_sha256): it was edited or "
        "damaged after training, and its settings change predictions; refusing it: re-run "
        "dvc repro or copy the bundle again"
    )
    del info["info_sha256"]
    (copy / INFO_FILE).write_text(json.dumps(info))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser",
            "predict",
            "--model",
            str(copy),
            str(speech16k / "Actor_05/03-01-05-01-01-01-05.wav"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == (
        f"error: {copy / INFO_FILE} lacks its own SHA-256 (info_sha256; bundles of older versions "
        "of ser do); refusing settings that cannot be verified: retrain: dvc repro\n"
    )
    write_info(copy, {**info, "estimator": "rewritten"})  # written with its digest, as the pipeline writes it: loads
    assert load_bundle(copy)[1].estimator == "rewritten"


@pytest.mark.parametrize("name", ["untrusted class", "pickle instead of skops"])
def test_the_cli_refuses_a_tampered_bundle_in_one_line(copy, name, speech16k):
    TAMPERINGS[name](copy)
    restamp(copy)
    audio = speech16k / "Actor_05/03-01-05-01-01-01-05.wav"
    run = subprocess.run(
        [sys.executable, "-m", "ser", "predict", "--model", str(copy), str(audio)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(copy / MODEL_FILE) in lines[0], run.stderr
    assert not (copy.parent / "unpickled").exists()


def speaker_normalised(reference: dict | None):
    """An edit making the bundle claim per-speaker normalisation with ``reference`` as its speaker_reference."""

    def edit(info):
        info["train"]["normalize"] = info["normalize"] = "speaker"
        if reference is not None:
            info["speaker_reference"] = reference

    return edit


# model.json edits, digests recomputed, and the key each refusal names
SETTINGS = {
    "sample rate 1e8": (lambda info: info["audio"].update(sample_rate=100_000_000), "audio.sample_rate"),
    "sample rate 1e8 as a float": (lambda info: info["audio"].update(sample_rate=1e8), "audio.sample_rate"),
    "max_seconds 1e12": (lambda info: info["audio"].update(max_seconds=1e12), "audio.max_seconds"),
    "whisper at 8 kHz": (lambda info: info["features"].update(families=["whisper"]), "audio.sample_rate"),
    "an unknown feature key": (lambda info: info["features"].update(n_bins=3), "features.n_bins"),
    "n_fft 2**31": (lambda info: info["features"].update(n_fft=2**31), "features.n_fft"),
    "a negative alpha": (lambda info: info["train"].update(alpha=-1), "train.alpha"),
    "an empty source": (lambda info: info["data"].update(source=""), "data.source"),
    "a copy of no known kind": (lambda info: info["data"].update(copies=["echo 3"]), "data.copies"),
    "an unknown top-level key": (lambda info: info.update(note="x"), "note"),
    "a missing section": (lambda info: info.pop("split"), "split"),
    "feature columns repeated 1,000 times": (
        lambda info: info.update(feature_columns=info["feature_columns"] * 1000),
        "feature_columns",
    ),
    "a feature column fewer than the model takes": (lambda info: info["feature_columns"].pop(), "feature_columns"),
    "no classes": (lambda info: info.update(classes=[]), "classes"),
    "classes in another order than the model's": (lambda info: info["classes"].reverse(), "classes"),
    "normalize unlike train.normalize": (lambda info: info.update(normalize="speaker"), "normalize"),
    "speaker normalisation without its reference": (speaker_normalised(None), "speaker_reference"),
    "a speaker reference of one column": (speaker_normalised({"mean": [0.0], "std": [1.0]}), "speaker_reference.mean"),
    "a speaker reference not finite": (
        speaker_normalised({"mean": [0.0] * 32, "std": [float("nan")] * 32}),
        "speaker_reference.std",
    ),
    "a temperature the model does not hold": (lambda info: info["calibration"].update(alone=7.0), "calibration"),
    "no temperature for lone clips": (lambda info: info["calibration"].pop("alone"), "calibration"),
    "a temperature of 0": (lambda info: info["calibration"].update(together=0), "calibration"),
    "no calibration for a calibrated model": (lambda info: info.pop("calibration"), "calibration"),
}


@pytest.mark.parametrize("name", SETTINGS)
def test_bundle_settings_are_checked_as_params_yaml_and_against_the_model(copy, name):
    edit, key = SETTINGS[name]
    rewrite_info(copy, edit)
    with pytest.raises(BundleError) as refused:
        load_bundle(copy)
    message = str(refused.value)
    assert str(copy) in message and key in message and "\n" not in message and len(message) < 400, message


def test_the_bounds_admit_what_params_yaml_admits(copy):
    rewrite_info(copy, lambda info: info["audio"].update(sample_rate=192_000, max_seconds=4 * 3600))
    assert load_bundle(copy)[1].audio.max_seconds == 4 * 3600


def deep_metrics(info):
    """model.json's metrics nested 500 deep: under Python's recursion limit, over the depth a bundle may have."""
    info["metrics"] = {"test": json.loads(nested_json(500)), "crossval": {}}


NESTED = f"nested more than {MAX_JSON_DEPTH} levels deep"
# Hostile bundle files, each refused by `ser predict` in one line naming the file (and the key)
HOSTILE = {
    "sample rate 1e8, digests recomputed": (
        lambda b: rewrite_info(b, SETTINGS["sample rate 1e8"][0]),
        INFO_FILE,
        "audio.sample_rate",
    ),
    "a 300 MB model.json with a stale digest": (lambda b: pad_info(b, 300 << 20), INFO_FILE, f"{MAX_INFO_BYTES:,}"),
    "model.json nested 100,000 deep": (lambda b: (b / INFO_FILE).write_bytes(nested_json(100_000)), INFO_FILE, NESTED),
    "model.json's metrics nested 500 deep": (lambda b: rewrite_info(b, deep_metrics), INFO_FILE, NESTED),
    "schema.json nested 100,000 deep": (lambda b: replace_schema(b, nested_json(100_000)), MODEL_FILE, NESTED),
    "schema.json expanding past its cap": (
        lambda b: replace_schema(b, b" " * (MAX_SCHEMA_BYTES + 1)),
        MODEL_FILE,
        f"{MAX_SCHEMA_BYTES + 1:,}",
    ),
    "model.skops over its cap": (
        lambda b: os.truncate(b / MODEL_FILE, MAX_MODEL_BYTES + 1),
        MODEL_FILE,
        f"{MAX_MODEL_BYTES + 1:,}",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_ser_predict_refuses_a_hostile_bundle_in_one_line(copy, speech16k, name):
    damage, file, named = HOSTILE[name]
    damage(copy)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser",
            "predict",
            "--model",
            str(copy),
            str(speech16k / "Actor_05/03-01-05-01-01-01-05.wav"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and run.stdout == "", run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {copy / file}") and named in lines[0], run.stderr
