"""The ingest, features, crossvalidate and train stages draw a progress bar on stderr when it is a terminal: not when
stderr is redirected, never with --quiet; stdout and every output are the same in the three cases."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest
import yaml

from ser.inference.bundle import read_record
from ser.modeling.calibration import CALIBRATION_FOLDS
from tests.conftest import PROJECT
from tests.stagerun import run_stage, stage_command, stage_env
from tests.terminal import run_with_stderr_on_a_terminal

pytestmark = pytest.mark.slow
MODES = ("redirected", "terminal", "quiet")  # stderr a pipe; stderr a terminal; a terminal, with --quiet
STAGES = {  # each stage's command line, with the same relative paths in every mode's folder
    "ingest": [
        "--raw",
        "data/raw",
        "--downloads",
        "data/downloads",
        "--catalog",
        "data/catalog.csv",
        "--rejected",
        "data/rejected.csv",
        "--metrics",
        "metrics/ingest.json",
        "--cache",
        "cache/ingest",
    ],
    "features": ["--catalog", "data/catalog.csv", "--out", "data/features.parquet", "--cache", "cache/features"],
    "crossvalidate": [
        "--features",
        "data/features.parquet",
        "--metrics",
        "metrics/crossval.json",
        "--plots",
        "plots",
        "--speaker-plot",
        "plots/crossval_speaker_uar.png",
    ],
    "train": ["--features", "data/features.parquet", "--split", "data/split.csv", "--model", "data/model"],
}
BEFORE = {"train": ["split", "--catalog", "data/catalog.csv", "--out", "data/split.csv"]}  # a stage without a bar
OUTPUTS = {
    "ingest": ["data/catalog.csv", "data/rejected.csv", "metrics/ingest.json"],
    "crossvalidate": ["metrics/crossval.json", "plots/crossval_folds.csv", "plots/crossval_speaker_scores.csv"],
    "train": ["plots/loss.csv"],
}


def bar_totals(name: str, shown: str) -> set[int]:
    """The totals of every drawing of the tqdm bar called ``name`` in ``shown`` ("name:  40%|####  | 2/5 [...")."""
    return {int(total) for total in re.findall(rf"{name}: +\d+%\|[^|\n]*\| *\d+/(\d+) ", shown)}


@pytest.fixture(scope="module")
def runs(speech16k, tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, str]]:
    """``(mode, stage) -> (exit code, stdout, stderr or what the terminal showed)``: the three stages in turn, in
    one fresh folder (own caches) per mode."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["data"].update(source=str(speech16k), emotions=["neutral", "calm"])
    params["features"].update(families=["mfcc"], stats=["mean"])
    params["train"]["model"] = "logreg"
    params["evaluate"]["cv_folds"] = 3
    env = stage_env()
    found = {}
    for mode in MODES:
        folder = tmp_path_factory.mktemp(mode)
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        for stage, arguments in STAGES.items():
            if stage in BEFORE:
                script, *before = BEFORE[stage]
                ran = run_stage(script, *before, cwd=folder, env=env, timeout=300)
                assert ran.returncode == 0, ran.stderr
            command = stage_command(stage, *arguments)
            if mode == "redirected":
                done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
                found[mode, stage] = done.returncode, done.stdout, done.stderr
            else:
                found[mode, stage] = run_with_stderr_on_a_terminal(
                    command + ["--quiet"] * (mode == "quiet"), cwd=folder, env=env
                )
            assert found[mode, stage][0] == 0, found[mode, stage]
        found[mode] = folder
    return found


def expected_total(folder, stage: str) -> int:
    """What the stage's bar counts: the corpus's files (ingest), the catalog's (features), the classifier's fits
    (train) or the folds."""
    if stage == "ingest":
        counts = json.loads((folder / "metrics/ingest.json").read_text())
        return counts["files"] + counts["rejected"] + counts["skipped_unselected_emotion"]
    if stage == "features":
        return len(pd.read_csv(folder / "data/catalog.csv"))
    if stage == "train":
        record = read_record(folder / "data/model")
        return min(CALIBRATION_FOLDS, len(record.data.train_speakers)) + 1 if record.train.calibrate else 1
    return json.loads((folder / "metrics/crossval.json").read_text())["folds"]


@pytest.mark.parametrize("stage", STAGES)
def test_a_bar_on_a_terminal_only_and_the_results_unchanged(runs, stage):
    total = expected_total(runs["terminal"], stage)
    assert total > 1
    assert bar_totals(stage, runs["terminal", stage][2]) == {total}
    assert bar_totals(stage, runs["redirected", stage][2]) == set()
    assert bar_totals(stage, runs["quiet", stage][2]) == set()
    assert runs["redirected", stage][1] == runs["terminal", stage][1] == runs["quiet", stage][1]  # stdout
    for output in OUTPUTS.get(stage, []):
        contents = {(runs[mode] / output).read_bytes() for mode in MODES}
        assert len(contents) == 1, output
    if stage == "features":
        tables = [pd.read_parquet(runs[mode] / "data/features.parquet") for mode in MODES]
        assert all(table.equals(tables[0]) for table in tables[1:])
