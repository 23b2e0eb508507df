"""Enrollment: a few recordings of the speaker normalise the clip predicted, as one speaker's recordings, in the
library (``Predictor.predict(enroll=...)``), ``ser predict --enroll``, ``POST /predict`` (parts named enroll) and the
page of ``ser serve`` (real headless Chromium); an unusable enrollment recording fails naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from ser.inference.predictor import EnrollmentError, Prediction, Predictor
from ser.modeling.normalize import SHRINK_BELOW, new_speaker_statistics
from tests.bundles import train_bundle
from tests.conftest import require, require_program
from tests.servers import ServeProcess


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    """A model that normalises per speaker, with a temperature per normalisation mode, trained on actors 01-04."""
    folder = tmp_path_factory.mktemp("bundle") / "model"
    return train_bundle(speech16k, folder, normalize="speaker", calibrate_per_mode=True)


@pytest.fixture(scope="module")
def predictor(bundle) -> Predictor:
    return Predictor(bundle)


@pytest.fixture(scope="module")
def clips(speech16k, predictor) -> list[str]:
    """Recordings of actor 05 (never trained on) that the predictor accepts: the first is predicted, the rest enroll."""
    paths = [str(p) for p in sorted((speech16k / "Actor_05").glob("*.wav"))[:24]]
    accepted = [r.file for r in predictor.predict(paths, warn=lambda message: None) if isinstance(r, Prediction)]
    assert len(accepted) >= SHRINK_BELOW + 1
    return accepted


def probabilities(results) -> np.ndarray:
    return np.array([list(r.probabilities.values()) for r in results])


def test_enrollment_normalises_the_clip_with_them_and_calibrates_by_how_many_they_are(predictor, clips):
    clip, enroll = clips[0], clips[1:]
    alone = predictor.predict([clip], warn=lambda message: None)
    for count, mode in ((2, "alone"), (SHRINK_BELOW - 1, "together")):
        [result] = predictor.predict([clip], enroll=enroll[:count])
        assert result.file == clip
        rows = np.vstack([predictor.features(path) for path in [clip, *enroll[:count]]])
        mean, std = new_speaker_statistics(rows, predictor.speaker_reference)
        expected = predictor.model.predict_proba((rows[:1] - mean) / std, mode=mode)
        np.testing.assert_allclose(probabilities([result]), expected, rtol=1e-9, atol=1e-12)
        assert np.abs(probabilities([result]) - probabilities(alone)).max() > 0.01  # so the check tells them apart
    calibration = predictor.record.calibration
    assert calibration["alone"] != calibration["together"]  # so the two modes' probabilities differ


def test_an_unusable_enrollment_recording_fails_naming_it(predictor, bundle, clips, tmp_path):
    broken = tmp_path / "usual.wav"
    broken.write_text("not audio\n")
    with pytest.raises(EnrollmentError) as raised:
        predictor.predict([clips[0]], enroll=[clips[1], broken])
    assert raised.value.file == str(broken) and str(broken) in str(raised.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    for given in (broken, tmp_path / "missing.wav", empty):  # not audio, absent, a folder without audio
        run = ser("predict", "--model", str(bundle), clips[0], "--enroll", clips[1], str(given))
        lines = run.stderr.splitlines()
        assert run.returncode == 2 and run.stdout == "" and len(lines) == 1, run.stderr
        assert lines[0].startswith(f"error: enrollment recording {given} ")


def test_ser_predict_enroll_and_the_api_give_the_librarys_result(predictor, bundle, clips):
    clip, enroll = clips[0], clips[1:4]
    [expected] = predictor.predict([clip], enroll=enroll)
    run = ser("predict", "--model", str(bundle), "--format", "json", clip, "--enroll", *enroll)
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed["emotion"] == expected.emotion
    assert printed["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    server = ServeProcess(bundle)
    try:
        parts = [("file", (Path(clip).name, Path(clip).read_bytes()))]
        parts += [("enroll", (Path(path).name, Path(path).read_bytes())) for path in enroll]
        answer = requests.post(f"{server.url}/predict", files=parts, timeout=120)
        assert answer.status_code == 200, answer.text
        [served] = answer.json()["predictions"]
        assert served["probabilities"] == pytest.approx(expected.probabilities, abs=1e-9)
        bad = parts[:2] + [("enroll", ("usual.wav", b"not audio\n"))]
        refused = requests.post(f"{server.url}/predict", files=bad, timeout=120)
        assert refused.status_code == 422 and refused.json()["file"] == "usual.wav"
        assert refused.json()["error"].startswith("enrollment recording usual.wav ")
        assert "ser-serve-" not in refused.json()["error"]  # the part's name, never the server's scratch path
    finally:
        assert server.stop() == 0, "".join(server.lines)


def test_the_page_keeps_enrollment_recordings_and_sends_them_with_each_prediction(predictor, bundle, clips, tmp_path):
    require("selenium.webdriver")
    for program in ("chromium", "chromedriver"):
        require_program(program, "apt-get install chromium chromium-driver (Debian)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browsers import chromium, open_page

    clip, enroll = clips[0], clips[1:4]
    [enrolled] = predictor.predict([clip], enroll=enroll)
    [plain] = predictor.predict([clip], warn=lambda message: None)

    def upload(browser) -> dict[str, float]:
        """Choose ``clip`` as the file to predict; the probabilities shown."""
        browser.execute_script("document.getElementById('results').replaceChildren()")
        browser.find_element(By.ID, "file").send_keys(clip)
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results .result .bar"))
        bars = browser.find_elements(By.CSS_SELECTOR, "#results .result .bar")
        browser.execute_script("document.getElementById('file').value = ''")
        return {bar.get_attribute("data-class"): float(bar.get_attribute("data-p")) for bar in bars}

    server = ServeProcess(bundle)
    browser = chromium(tmp_path / "profile")
    try:
        open_page(browser, server.url)
        browser.find_element(By.ID, "enroll-file").send_keys("\n".join(enroll))
        count = browser.find_element(By.ID, "enroll-count")
        WebDriverWait(browser, 10).until(lambda b: count.get_attribute("data-count") == str(len(enroll)))
        shown = [upload(browser), upload(browser)]  # kept in the page: both predictions use them
        browser.find_element(By.ID, "enroll-clear").click()
        forgotten = upload(browser)
    finally:
        browser.quit()
        assert server.stop() == 0, "".join(server.lines)
    for probabilities_shown in shown:
        assert probabilities_shown == pytest.approx(enrolled.probabilities, abs=1e-6)
    assert forgotten == pytest.approx(plain.probabilities, abs=1e-6)
    assert max(abs(enrolled.probabilities[c] - plain.probabilities[c]) for c in plain.probabilities) > 0.01


def ser(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ser", *args], capture_output=True, text=True, timeout=300)
