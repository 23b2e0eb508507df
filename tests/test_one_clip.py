"""One clip, a first-class measure: the evaluate stage's uar_one_clip is what `ser predict` gives for the test files
sent one at a time, and crossvalidate reports it per fold."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from ser.inference.predictor import Predictor
from ser.modeling.metrics import summary_scores
from tests.test_models import per_fold, project, run_stages  # noqa: F401  (the fixture of a features and split table)


@pytest.mark.slow
def test_uar_one_clip_is_ser_predict_on_each_test_file_alone(project):  # noqa: F811
    run_stages(project, model="mlp", normalize="speaker", hidden_layer_sizes=[32], max_iter=200, alpha=1.0)
    evaluation = json.loads((project / "metrics/evaluate.json").read_text())
    crossval = json.loads((project / "metrics/crossval.json").read_text())
    table = pd.read_parquet(project / "data/features.parquet")
    test = table[table["speaker"] == "04"].sort_values("file")
    predictor = Predictor(project / "data/model")
    alone = {path: predictor.predict(path)[0].emotion for path in test["path"]}
    assert evaluation["uar_one_clip"] == summary_scores(test["emotion"], [alone[p] for p in test["path"]])["uar"]
    # the command itself, one file per call, for a few files
    for path in list(test["path"])[::8]:
        run = subprocess.run(
            [sys.executable, "-m", "ser", "predict", "--model", str(project / "data/model"), path, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["emotion"] == alone[path]
    together = pd.read_csv(project / "plots/predictions.csv")
    assert evaluation["uar"] == summary_scores(together["actual"], together["predicted"])["uar"]
    assert 0 <= evaluation["ece"] <= 1 and evaluation["log_loss"] > 0
    assert len(per_fold(project, "uar_one_clip")) == crossval["folds"] == 4
    assert crossval["uar_one_clip_mean"] == pytest.approx(sum(per_fold(project, "uar_one_clip")) / 4)
