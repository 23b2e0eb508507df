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

from ser.inference.bundle import load_bundle
from ser.config import FeatureParams
from ser.features.batch import extract_features
from ser.files import sha256_of
from ser.modeling.normalize import normalize_by_speaker
from ser.inference.predictor import Prediction, Predictor
from tests.conftest import PROJECT

EMOTIONS = {"01": "neutral", "05": "angry", "06": "fearful", "08": "surprised"}  # RAVDESS codes
ACTORS = ("01", "02", "03", "04")
FEATURES = {"families": ["mfcc", "f0", "loudness"], "stats": ["mean", "std", "p90"], "n_mfcc": 13}


@pytest.fixture(scope="module")
def project(speech16k, tmp_path_factory):
    """A folder with the features and split tables the stages read: actors 01-03 train, 04 test."""
    root = tmp_path_factory.mktemp("stages")
    files = sorted(p for a in ACTORS for p in (speech16k / f"Actor_{a}").glob("*.wav") if p.name.split("-")[2] in EMOTIONS)
    rows = [{"file": f"{p.parent.name}/{p.name}", "path": str(p), "speaker": p.stem[-2:],
             "emotion": EMOTIONS[p.name.split("-")[2]], "sha256": sha256_of(p)} for p in files]
    (root / "data").mkdir()
    extract_features(rows, FeatureParams(**FEATURES), 16000, root / "data/features.parquet", root / "cache", workers=2)
    split = pd.DataFrame(rows)[["file", "speaker", "emotion"]]
    split["set"] = np.where(split["speaker"] == "04", "test", "train")
    split.to_csv(root / "data/split.csv", index=False)
    return root


def run_stages(root, **train) -> dict:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["features"].update(FEATURES)
    params["train"].update(train)
    params["evaluate"]["cv_folds"] = 4
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])}
    outputs = {}
    for stage in ("train", "evaluate", "crossvalidate"):
        done = subprocess.run([sys.executable, str(PROJECT / f"stages/{stage}.py"), "--params", "params.yaml"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        outputs[stage] = done.stdout
    return outputs


@pytest.mark.parametrize("model", ["svm", "logreg", "mlp"])
def test_each_model_trains_evaluates_and_crossvalidates_with_per_speaker_normalisation(project, model):
    extra = {"hidden_layer_sizes": [32], "max_iter": 200, "alpha": 1.0} if model == "mlp" else {}
    printed = run_stages(project, model=model, normalize="speaker", **extra)
    assert f"train: {model} on " in printed["train"]
    fitted, info = load_bundle(project / "data/model")  # the trusted-type list covers every model
    assert info["normalize"] == "speaker" and info["train"]["model"] == model
    evaluation = json.loads((project / "metrics/evaluate.json").read_text())
    crossval = json.loads((project / "metrics/crossval.json").read_text())
    assert evaluation["uar"] > 0.4 and crossval["uar_mean"] > 0.4  # four emotions: chance is 0.25
    assert crossval["folds"] == 4 and crossval["model"] == model and crossval["normalize"] == "speaker"
    # evaluate fed the model the test speaker's own standardised features
    table = pd.read_parquet(project / "data/features.parquet")
    test = table[table["speaker"] == "04"]
    X = normalize_by_speaker(test[info["feature_columns"]].to_numpy(), test["speaker"].to_numpy())
    predictions = pd.read_csv(project / "plots/predictions.csv")
    assert dict(zip(predictions["file"], predictions["predicted"])) == dict(zip(test["file"], fitted.predict(X)))


def test_normalisation_matters_and_is_recorded(project):
    run_stages(project, model="logreg", normalize="none")
    plain = json.loads((project / "metrics/crossval.json").read_text())
    assert json.loads((project / "data/model/model.json").read_text())["normalize"] == "none"
    run_stages(project, model="logreg", normalize="speaker")
    per_speaker = json.loads((project / "metrics/crossval.json").read_text())
    assert plain["normalize"] == "none" and per_speaker["normalize"] == "speaker"
    assert per_speaker["uar_per_fold"] != plain["uar_per_fold"]


def test_predict_standardises_each_speaker_like_evaluate(project, speech16k):
    run_stages(project, model="logreg", normalize="speaker")
    predictor = Predictor(project / "data/model")
    assert predictor.normalization == "speaker"
    split = pd.read_csv(project / "data/split.csv")
    test_files = split.loc[split["set"] == "test", "file"].tolist()
    tests = [str(speech16k / f) for f in test_files]
    lone = str(sorted((speech16k / "Actor_01").glob("*.wav"))[0])
    warnings = []
    results = predictor.predict_by_speaker(tests + [lone], warn=warnings.append)
    assert all(isinstance(r, Prediction) for r in results)
    predictions = pd.read_csv(project / "plots/predictions.csv")
    by_file = dict(zip(predictions["file"], predictions["predicted"]))
    evaluated = [by_file[f] for f in test_files]
    assert [r.emotion for r in results[:-1]] == evaluated
    # a lone recording of speaker 01 is predicted with statistics leaning on the training speakers' average
    mean, std = predictor.speaker_reference
    assert mean.shape == std.shape == (len(predictor.info["feature_columns"]),)
    assert len(warnings) == 1 and "fewer than 10 recordings of speaker(s) 01" in warnings[0]
    alone = predictor.predict_by_speaker([lone])[0]
    assert alone.probabilities == pytest.approx(results[-1].probabilities, rel=1e-9, abs=1e-12)
    # --speaker: the caller says whose voice it is; all files then share one set of statistics
    together = predictor.predict_by_speaker(tests[:6], speaker="someone")
    assert [r.emotion for r in together] != [] and all(isinstance(r, Prediction) for r in together)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")])}
    cli = subprocess.run([sys.executable, "-m", "ser", "predict", "--model", str(project / "data/model"),
                          "--format", "csv", *tests], capture_output=True, text=True, env=env, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert pd.read_csv(io.StringIO(cli.stdout))["emotion"].tolist() == evaluated
