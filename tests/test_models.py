"""Model choice and per-speaker normalisation through the real train, evaluate and crossvalidate stage scripts."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from ser.config import FeatureParams, load_params
from ser.features.batch import extract_features
from ser.features.table import read_split_table
from ser.files import sha256_of
from ser.inference.bundle import load_bundle
from ser.inference.predictor import Prediction, Predictor
from ser.modeling.crossval import cross_validate_model
from ser.modeling.model import build_model
from ser.modeling.normalize import normalize_by_speaker, normalize_new_speakers, reference_statistics
from ser.reports.breakdowns import CROSSVAL_FOLDS, read_scores
from tests.conftest import PROJECT
from tests.stagerun import run_stage

EMOTIONS = {"01": "neutral", "05": "angry", "06": "fearful", "08": "surprised"}  # RAVDESS codes
ACTORS = ("01", "02", "03", "04")
FEATURES = {"families": ["mfcc", "f0", "loudness"], "stats": ["mean", "std", "p90"], "n_mfcc": 13}


@pytest.fixture(scope="module")
def project(speech16k, tmp_path_factory):
    """A folder with the features and split tables the stages read: actors 01-03 train, 04 test."""
    root = tmp_path_factory.mktemp("stages")
    files = sorted(
        p for a in ACTORS for p in (speech16k / f"Actor_{a}").glob("*.wav") if p.name.split("-")[2] in EMOTIONS
    )
    rows = [
        {
            "file": f"{p.parent.name}/{p.name}",
            "path": str(p),
            "speaker": p.stem[-2:],
            "emotion": EMOTIONS[p.name.split("-")[2]],
            "sha256": sha256_of(p),
        }
        for p in files
    ]
    (root / "data").mkdir()
    extract_features(rows, FeatureParams(**FEATURES), 16000, root / "data/features.parquet", root / "cache", workers=2)
    split = pd.DataFrame(rows)[["file", "speaker", "emotion"]]
    split["set"] = np.where(split["speaker"] == "04", "test", "train")
    split.to_csv(root / "data/split.csv", index=False)
    return root


def run_stages(root, **train) -> None:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["features"].update(FEATURES)
    params["train"].update(train)
    params["evaluate"]["cv_folds"] = 4
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("train", "evaluate", "crossvalidate"):
        done = run_stage(stage, "--params", "params.yaml", cwd=root)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("model", ["svm", "logreg", "mlp"])
def test_each_model_trains_evaluates_and_crossvalidates_with_per_speaker_normalisation(project, model):
    extra = {"hidden_layer_sizes": [32], "max_iter": 200, "alpha": 1.0} if model == "mlp" else {}
    run_stages(project, model=model, normalize="speaker", **extra)
    fitted, record = load_bundle(project / "data/model")  # the trusted-type list covers every model
    assert record.normalize == "speaker" and record.train.model == model
    assert fitted.steps[-1][0] == model  # the pipeline's classifier step (ser.modeling.model.build_model)
    evaluation = json.loads((project / "metrics/evaluate.json").read_text())
    crossval = json.loads((project / "metrics/crossval.json").read_text())
    assert evaluation["uar"] > 0.4 and crossval["uar_mean"] > 0.4  # four emotions: chance is 0.25
    assert crossval["folds"] == 4 and crossval["model"] == model and crossval["normalize"] == "speaker"
    # evaluate fed the model the test speaker's own standardised features
    table = pd.read_parquet(project / "data/features.parquet")
    test = table[table["speaker"] == "04"]
    X = normalize_by_speaker(test[list(record.feature_columns)].to_numpy(), test["speaker"].to_numpy())
    predictions = pd.read_csv(project / "plots/predictions.csv")
    assert dict(zip(predictions["file"], predictions["predicted"])) == dict(zip(test["file"], fitted.predict(X)))


def per_fold(project, score: str) -> list[float]:
    """The crossvalidate stage's ``score`` of each fold, in fold order (plots/crossval_folds.csv)."""
    return [fold[score] for fold in read_scores(project / "plots" / CROSSVAL_FOLDS, "fold").values()]


def written_probabilities(project, classes) -> np.ndarray:
    """The evaluate stage's probabilities (rounded to 6 decimals), in test-file order."""
    predictions = pd.read_csv(project / "plots/predictions.csv")
    return predictions.sort_values("file")[[f"p_{c}" for c in classes]].to_numpy()


def probabilities_of(results) -> np.ndarray:
    return np.array([list(r.probabilities.values()) for r in results])


def test_normalisation_matters_and_is_recorded(project):
    table = read_split_table(project / "data/features.parquet", project / "data/split.csv").sort_values("file")
    cross_validated = {}
    for normalize in ("none", "speaker"):
        run_stages(project, model="logreg", normalize=normalize)
        fitted, record = load_bundle(project / "data/model")
        crossval = json.loads((project / "metrics/crossval.json").read_text())
        assert record.normalize == crossval["normalize"] == normalize
        standardise = (lambda X, speakers: X) if normalize == "none" else normalize_by_speaker
        # train: the model's scaler saw the training rows as they were normalised (per speaker: mean 0, std 1)
        train = table[table["set"] == "train"]
        seen = standardise(train[list(record.feature_columns)].to_numpy(np.float64), train["speaker"].to_numpy())
        seen = seen.astype(np.float32).astype(np.float64)  # fit_model fits in float32
        np.testing.assert_allclose(fitted.named_steps["scale"].mean_, seen.mean(axis=0), atol=1e-9)
        np.testing.assert_allclose(fitted.named_steps["scale"].var_, seen.var(axis=0), rtol=1e-9, atol=1e-12)
        # evaluate: the probabilities written are the model's on the test rows normalised the same way,
        # and clearly not those of the rows normalised the other way
        test = table[table["set"] == "test"]
        raw, speakers = test[list(record.feature_columns)].to_numpy(np.float64), test["speaker"].to_numpy()
        written = written_probabilities(project, list(record.classes))
        np.testing.assert_allclose(written, fitted.predict_proba(standardise(raw, speakers)), atol=1e-6)
        other = normalize_by_speaker(raw, speakers) if normalize == "none" else raw
        assert np.abs(written - fitted.predict_proba(other)).max() > 0.1
        # crossvalidate: the folds' scores are those of the folds normalised this way
        params = load_params(project / "params.yaml")
        expected = cross_validate_model(
            build_model(params.train, list(record.feature_columns)),
            table[list(record.feature_columns)].to_numpy(),
            table["emotion"].to_numpy(),
            table["speaker"].to_numpy(),
            params.evaluate,
            seed=params.split.seed,
            normalization=normalize,
            n_jobs=1,
        )
        assert per_fold(project, "uar") == expected["uar_per_fold"]
        cross_validated[normalize] = per_fold(project, "uar")
    assert cross_validated["none"] != cross_validated["speaker"]  # so the check above tells the two apart


def test_predict_standardises_each_speaker_like_evaluate(project, speech16k):
    run_stages(project, model="logreg", normalize="speaker")
    predictor = Predictor(project / "data/model")
    assert predictor.normalization == "speaker"
    split = pd.read_csv(project / "data/split.csv")
    test_files = sorted(split.loc[split["set"] == "test", "file"])
    tests = [str(speech16k / f) for f in test_files]
    ones = [str(p) for p in sorted((speech16k / "Actor_01").glob("*.wav"))[:3]]
    warnings = []
    results = predictor.predict(tests + ones[:1], warn=warnings.append)
    assert all(isinstance(r, Prediction) for r in results)
    predictions = pd.read_csv(project / "plots/predictions.csv")
    evaluated = dict(zip(predictions["file"], predictions["predicted"]))
    assert [r.emotion for r in results[:-1]] == [evaluated[f] for f in test_files]
    written = written_probabilities(project, predictor.classes)
    np.testing.assert_allclose(probabilities_of(results[:-1]), written, atol=1e-6)
    # the training speakers' average, exactly: the training rows' statistics, none of the test rows'
    table = read_split_table(project / "data/features.parquet", project / "data/split.csv")
    train = table[table["set"] == "train"]
    columns = list(predictor.record.feature_columns)
    expected = reference_statistics(train[columns].to_numpy(), train["speaker"].to_numpy())
    for stored, statistic in zip(predictor.speaker_reference, expected):
        np.testing.assert_allclose(stored, statistic, rtol=1e-12, atol=0)
    # a lone recording of speaker 01 is predicted with statistics leaning on that average
    assert len(warnings) == 1 and "fewer than 10 recordings of speaker(s) 01" in warnings[0]
    alone = predictor.predict(ones[:1])[0]
    assert alone.probabilities == pytest.approx(results[-1].probabilities, rel=1e-9, abs=1e-12)
    # --speaker: the caller says whose voice it is; files of two speakers then share one set of statistics
    mixed = tests[:3] + ones
    together = predictor.predict(mixed, speaker="someone")
    X = np.vstack([predictor.features(path) for path in mixed])
    shared = predictor.model.predict_proba(  # six recordings, fewer than 10: calibrated as a lone clip's
        normalize_new_speakers(X, ["someone"] * 6, predictor.speaker_reference), mode="alone"
    )
    np.testing.assert_allclose(probabilities_of(together), shared, rtol=1e-9, atol=1e-12)
    by_name = predictor.predict(mixed)  # speakers 04 and 01, three files each
    assert np.abs(probabilities_of(by_name) - shared).max() > 0.01  # so the check above tells the two apart
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])}
    cli = subprocess.run(
        [sys.executable, "-m", "ser", "predict", "--model", str(project / "data/model"), "--format", "csv", *tests],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    printed = pd.read_csv(io.StringIO(cli.stdout))
    assert printed["emotion"].tolist() == [evaluated[f] for f in test_files]
    np.testing.assert_allclose(printed[predictor.classes].to_numpy(), written, atol=2e-6)
