"""The Python API, ``ser.load``: what ``ser predict`` prints, normalised as the bundle was trained, one clip or many."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ser
from ser.errors import SerError
from ser.inference.inputs import Failure
from ser.inference.predictor import Prediction, Predictor
from tests.bundles import train_bundle
from tests.conftest import assert_one_line


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    """A bundle that normalises per speaker, as the pipeline's default does."""
    return train_bundle(speech16k, tmp_path_factory.mktemp("api") / "model", normalize="speaker")


@pytest.fixture(scope="module")
def files(speech16k) -> list[str]:
    """Twelve recordings of actor 05, whom the bundle never heard, and one of actor 06."""
    return [str(p) for p in sorted((speech16k / "Actor_05").glob("*.wav"))[:12]] + [
        str(next((speech16k / "Actor_06").glob("*.wav")))
    ]


def printed_by_ser_predict(bundle: Path, paths: list[str]) -> list[dict]:
    run = subprocess.run(
        [sys.executable, "-m", "ser", "predict", "--model", str(bundle), "--format", "json", *paths],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def printed_by_the_api(bundle: Path, paths: list[str]) -> list[dict]:
    """The issue's own check, in a fresh interpreter: ``import ser; ser.load(...).predict([...])``."""
    code = (
        "import json, sys, ser; m = ser.load(sys.argv[1]); "
        "print(json.dumps([r.as_dict() for r in m.predict(sys.argv[2:])]))"
    )
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(bundle), *paths], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def assert_same(api: list[dict], cli: list[dict]) -> None:
    assert [r["file"] for r in api] == [r["file"] for r in cli]
    assert [r["emotion"] for r in api] == [r["emotion"] for r in cli]
    for mine, theirs in zip(api, cli):
        assert list(mine["probabilities"]) == list(theirs["probabilities"])
        np.testing.assert_allclose(
            list(mine["probabilities"].values()), list(theirs["probabilities"].values()), atol=2e-6
        )


@pytest.mark.parametrize("which", ["many", "one clip", "two speakers' last"])
def test_load_predicts_what_ser_predict_prints(bundle, files, which):
    paths = {"many": files, "one clip": files[:1], "two speakers' last": files[-2:]}[which]
    assert_same(printed_by_the_api(bundle, paths), printed_by_ser_predict(bundle, paths))


def test_predict_always_normalises_as_the_bundle_was_trained(bundle, files):
    model = ser.load(str(bundle))
    assert isinstance(model, Predictor) and model.normalization == "speaker"
    with pytest.warns(UserWarning, match="fewer than 10 recordings of speaker"):
        [alone] = model.predict(files[0])  # one path, not in a list, is one clip
    together = model.predict(files[:12])[0]
    raw = model.model.predict_proba(model.features(files[0])[np.newaxis, :])[0]  # what skipping it would give
    probabilities = np.array(list(alone.probabilities.values()))
    assert np.abs(probabilities - raw).max() > 0.05
    assert np.abs(probabilities - np.array(list(together.probabilities.values()))).max() > 0.01
    # predicting is predict() (timeline() labels one recording over time): no other public method gives predictions
    public = {name for name in dir(Predictor) if not name.startswith("_") and callable(getattr(Predictor, name))}
    assert public == {"predict", "features", "speaker_of", "timeline"}


def test_a_bad_file_is_its_own_failure_and_the_others_are_predicted(bundle, files, tmp_path):
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    results = ser.load(str(bundle)).predict([files[0], str(bad), files[1]], speaker="05")
    assert [type(r) for r in results] == [Prediction, Failure, Prediction]
    assert_one_line(str(results[1]), str(bad), "empty")
    assert results[1].file == str(bad) and [results[0].file, results[2].file] == files[:2]


def test_load_names_a_missing_bundle(tmp_path):
    with pytest.raises(SerError, match=str(tmp_path / "nowhere")):
        ser.load(str(tmp_path / "nowhere"))
